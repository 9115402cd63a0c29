"""The gateway client's inbox reading, against a stand-in gateway (httpx.MockTransport)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.client.gateway_client import GatewayClient, GatewayError
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    PermitRequested,
    RefusalNotice,
    subject_of,
)
from hub.contracts.examples import example_events
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.flow.refusal_notice import refusal_notice

AGENCY = "prefecture-93"
TEMPLATE = next(e for _s, e in example_events() if isinstance(e, PermitRequested))


def item(offset: int, event_id: uuid.UUID) -> dict[str, Any]:
    event = TEMPLATE.model_copy(
        update={"envelope": TEMPLATE.envelope.model_copy(update={"event_id": event_id})}
    )
    return {
        "event_id": str(event_id),
        "case_id": str(event.envelope.case_id),
        "subject": subject_of(PermitRequested),
        "schema_id": 1,
        "partition": 0,
        "offset": offset,
        "headers": {},
        "event": event.model_dump(mode="json"),
    }


class StandInGateway:
    """Serves ``pages`` in turn, keyed by the cursor asked for; a page may be an error."""

    def __init__(self, pages: dict[str | None, dict[str, Any] | int]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        self.asked.append(cursor)
        page = self.pages.get(cursor, {"agency": AGENCY, "messages": [], "cursor": cursor})
        if isinstance(page, int):
            problem = {"reason": "BROKER_UNAVAILABLE", "detail": "down", "status": page}
            return httpx.Response(page, json=problem)
        return httpx.Response(200, json=page)


def client(gateway: StandInGateway, **options: Any) -> GatewayClient:
    return GatewayClient(
        "http://gateway.test",
        AGENCY,
        "token",
        transport=httpx.MockTransport(gateway),
        retries=0,
        **options,
    )


async def test_a_restarted_client_with_a_seen_file_drops_a_redelivered_message(
    tmp_path: Path,
) -> None:
    event_id = uuid.uuid4()
    page = {"agency": AGENCY, "messages": [item(0, event_id)], "cursor": "c1"}
    gateway = StandInGateway({None: page})
    async with client(gateway, seen_path=tmp_path / "seen.sqlite") as first:
        assert [m.event_id for m in await first.receive(timeout_s=0.5)] == [event_id]
    # Restarted without its cursor (lost): the gateway serves the same page again.
    async with client(gateway, seen_path=tmp_path / "seen.sqlite") as second:
        assert await second.receive(timeout_s=0.5) == []
        assert second.redelivered == 1


async def test_a_failure_after_a_page_returns_what_was_read_and_keeps_the_cursor_there() -> None:
    first_id, second_id = uuid.uuid4(), uuid.uuid4()
    gateway = StandInGateway(
        {
            None: {"agency": AGENCY, "messages": [item(0, first_id)], "cursor": "c1"},
            "c1": 503,
        }
    )
    async with client(gateway) as reader:
        got = await reader.receive(expected=2, timeout_s=2.0)
        assert [m.event_id for m in got] == [first_id]
        assert reader.cursor == "c1"
        with pytest.raises(GatewayError):
            await reader.receive(expected=1, timeout_s=2.0)
        assert reader.cursor == "c1"  # nothing lost: the next call asks for c1 again
        gateway.pages["c1"] = {"agency": AGENCY, "messages": [item(1, second_id)], "cursor": "c2"}
        assert [m.event_id for m in await reader.receive(timeout_s=2.0)] == [second_id]


async def test_a_refusal_notice_is_returned_typed_kept_and_counted_once() -> None:
    letter = next(e for _s, e in example_events() if isinstance(e, DeadLetter))
    notice = refusal_notice(letter, authenticated=True)
    served = {
        "event_id": str(notice.envelope.event_id),
        "case_id": str(notice.envelope.case_id),
        "subject": subject_of(RefusalNotice),
        "schema_id": 20,
        "partition": 0,
        "offset": 1,
        "headers": {},
        "event": notice.model_dump(mode="json"),
    }
    page = {"agency": AGENCY, "messages": [item(0, uuid.uuid4()), served, served], "cursor": "c"}
    async with client(StandInGateway({None: page})) as gateway_client:
        messages = await gateway_client.receive(expected=3, timeout_s=0.5)
    assert [m.refusal for m in messages] == [None, notice]  # the repeat is dropped
    assert list(gateway_client.refusals) == [notice]
    assert notice.reason is DeadLetterReason.SPOOFED_SENDER
