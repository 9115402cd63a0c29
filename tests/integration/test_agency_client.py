"""The Python agency client over Kafka: what the broker redelivers, the agency sees once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from flow_helpers import events_for, fresh, received_for
from worker_thread import AgencyFactory

from connectors.client import AgencyClient, InboxMessage
from connectors.client.dev import dev_client
from hub.event_types import AckStatus
from hub.events import Acknowledgement, PermitRequested
from hub.settings import HubSettings

PREFECTURE = "prefecture-93"


async def read_until(
    client: AgencyClient, case_id: uuid.UUID, timeout_s: float
) -> list[InboxMessage]:
    """Everything the client yields, without committing, until a message of ``case_id``."""
    found: list[InboxMessage] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found += await client.receive(expected=10**6, timeout_s=1.0, commit=False)
        if any(m.event.envelope.case_id == case_id for m in found):  # type: ignore[attr-defined]
            break
    return found


async def drain(client: AgencyClient) -> list[InboxMessage]:
    """What the client yields in a few seconds (committing it)."""
    return await client.receive(expected=10**6, timeout_s=4.0)


@pytest.mark.usefixtures("worker")
async def test_a_message_redelivered_after_a_restart_before_commit_is_yielded_once(
    hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    group = f"prefecture-app-{uuid.uuid4()}"
    seen_path = tmp_path / "seen.sqlite"
    police = dev_client(hub_settings, "police-93")
    first = dev_client(hub_settings, PREFECTURE, group_id=group, seen_path=seen_path)
    await police.start()
    await first.start()
    try:
        await police.publish(fresh(events_for(case_id)[PermitRequested], case_id))
        before_crash = await read_until(first, case_id, timeout_s=30)
    finally:
        await first.stop()  # a crash before the commit: the broker will redeliver all of it
        await police.stop()
    assert case_id in {m.event.envelope.case_id for m in before_crash}  # type: ignore[attr-defined]

    # Control: a client that forgot what it saw gets the whole uncommitted stretch again.
    forgetful = dev_client(hub_settings, PREFECTURE, group_id=group)
    await forgetful.start()
    try:
        again = await forgetful.receive(expected=len(before_crash), timeout_s=20, commit=False)
    finally:
        await forgetful.stop()
    assert {m.event_id for m in again} >= {m.event_id for m in before_crash}

    restarted = dev_client(hub_settings, PREFECTURE, group_id=group, seen_path=seen_path)
    await restarted.start()
    try:
        after_restart = await drain(restarted)
    finally:
        await restarted.stop()
    assert restarted.redelivered >= len(before_crash)
    assert not {m.event_id for m in after_restart} & {m.event_id for m in before_crash}


@pytest.mark.usefixtures("worker")
async def test_an_agency_on_kafka_answers_a_request_and_the_requester_gets_the_answer(
    agency: AgencyFactory,
) -> None:
    case_id = uuid.uuid4()
    request = fresh(events_for(case_id)[PermitRequested], case_id, request_id=uuid.uuid4())
    police = await agency("police-93")
    prefecture = await agency(PREFECTURE)
    await police.publish(request)
    (delivered,) = await received_for(prefecture, case_id, 1, timeout_s=30)

    with pytest.raises(ValueError, match="needs a decline_reason"):
        await prefecture.acknowledge(case_id, request.request_id, AckStatus.DECLINED)
    await prefecture.acknowledge(
        case_id, request.request_id, AckStatus.ACCEPTED, causation_id=delivered.event_id
    )

    (answer,) = await received_for(police, case_id, 1, timeout_s=30)
    assert isinstance(answer.event, Acknowledgement)
    assert (answer.event.request_id, answer.event.status) == (
        request.request_id,
        AckStatus.ACCEPTED,
    )
