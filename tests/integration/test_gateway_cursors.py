"""Inbox cursors from a hostile client: refused with 400, and never able to empty an inbox.

A cursor holding an offset past Kafka's 2**63 - 1 once crashed aiokafka's fetcher for that
agency's consumer: every later read answered 200 with no messages until a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gateway_fixtures import (
    as_json,
    bearer,
    demo_tokens,
    gateway_test_settings,
    served_gateway,
    story,
)
from gateway_fixtures import read_until as read_until_found

from connectors.gateway.app import create_gateway_app
from connectors.gateway.inbox import Cursor
from connectors.gateway.problems import ProblemError
from hub.runtime.settings import HubSettings

POLICE, ASSOCIATION = "police-93", "association-93"


@pytest.fixture(scope="module")
def tokens(hub_settings: HubSettings) -> dict[str, str]:
    return demo_tokens(hub_settings.config_dir)


@pytest.fixture(scope="module")
def gateway_url(hub_settings: HubSettings) -> Iterator[str]:
    with served_gateway(hub_settings) as url:
        yield url


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30.0) as client:
        yield client


async def _referral_delivered(http: httpx.AsyncClient, tokens: dict[str, str]) -> str:
    """Publish a referral (consent first) and wait until it is in the association's inbox."""
    case_id = uuid.uuid4()
    events = story(case_id)
    for name in ("ConsentGiven", "ReferralOpened"):
        sender = ASSOCIATION if name == "ConsentGiven" else POLICE
        answer = await http.post(
            f"/v1/agencies/{sender}/events",
            json=as_json(events[name]),
            headers=bearer(tokens[sender]),
        )
        assert answer.status_code == 202, answer.text
    await read_until_found(
        http, ASSOCIATION, tokens[ASSOCIATION], lambda m: m["case_id"] == str(case_id)
    )
    return str(case_id)


async def _page(http: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await http.get(f"/v1/agencies/{ASSOCIATION}/inbox", params=params, headers=bearer(token))


@pytest.mark.usefixtures("worker")
async def test_a_cursor_past_kafkas_offsets_is_400_and_the_inbox_still_reads(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    case_id = await _referral_delivered(http, tokens)
    token = tokens[ASSOCIATION]

    for offsets in ({0: 2**63}, {0: 2**64 + 5}, {2**31: 0}, {999: 0}):
        answer = await _page(http, token, cursor=Cursor(ASSOCIATION, offsets).encode())
        assert answer.status_code == 400, (offsets, answer.text)
        assert answer.json()["reason"] == "INVALID_CURSOR"

    good = await _page(http, token, cursor=Cursor(ASSOCIATION, {0: 0}).encode(), limit=1000)
    assert good.status_code == 200, good.text
    # From the start (no cursor): the referral delivered before the bad cursors is still there.
    await read_until_found(http, ASSOCIATION, token, lambda m: m["case_id"] == case_id)


@pytest.mark.usefixtures("worker")
async def test_a_reader_whose_fetcher_dies_is_rebuilt_not_left_silent(
    http: httpx.AsyncClient, tokens: dict[str, str], hub_settings: HubSettings
) -> None:
    case_id = await _referral_delivered(http, tokens)
    app = create_gateway_app(hub_settings, gateway_test_settings())
    inbox = app.state.gateway.inbox
    try:
        # Past the HTTP validation: the offset that crashes aiokafka's fetcher, as before.
        with pytest.raises(ProblemError) as failed:
            await inbox.read(ASSOCIATION, Cursor(ASSOCIATION, {0: 2**63}), limit=10, wait_s=0.5)
        assert failed.value.status == 503

        cursor = None
        seen: set[str] = set()
        for _page_number in range(50):  # bounded: the module's inbox holds a few messages
            items, cursor = await inbox.read(ASSOCIATION, cursor, limit=1000, wait_s=0.5)
            seen.update(str(item.case_id) for item in items)
            if case_id in seen or not items:
                break
        assert case_id in seen, "the rebuilt reader returns the inbox again"
    finally:
        await app.state.gateway.close()
