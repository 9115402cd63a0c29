"""The case page under a simulated clock lists a case's history in business-time order
(issue 21, finding 5), on a real broker and a real worker.

The hub's clock starts in March 2027 and runs 100,000 times faster than the wall clock, so
the permit deadline's reminder fires days (business time) after the request, within seconds
of wall time; the prefecture answers after it. Before, the entries of received events were
recorded at the broker's wall-clock timestamps (December 2026) and the tick's at the
simulated clock (March 2027): the answer, last in the chain, showed a date days before the
reminder. Now every entry is on the hub's clock and the page lists them in that order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventually import eventually
from flow_helpers import chosen_request_id, permit_chosen, prefecture_consent
from worker_thread import WorkerThread

from connectors.client.dev import dev_client
from connectors.dashboard.case_view import operator_categories, replay_case
from hub.audit.keys import default_key_store
from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, AuditAction
from hub.contracts.events import Escalation
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

START = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)  # a Monday, months ahead of the wall clock
SPEED = 100_000.0
WAIT_S = 45.0


@pytest.fixture(scope="module")
def fast_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSettings]:
    """A broker of its own (the fast clock fires every open deadline it meets) and settings
    on a simulated clock anchored now."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log").start()
    try:
        settings = HubSettings(
            bootstrap_servers=broker.bootstrap_servers,
            data_dir=tmp_path_factory.mktemp("hub-data"),
            clock_start=START,
            clock_anchor=datetime.now(UTC),
            clock_speed=SPEED,
        )
        directory = Directory.load(settings.config_dir)
        asyncio.run(create_topics(settings, all_topics(a.id for a in directory)))
        yield settings
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def fast_worker(fast_settings: HubSettings) -> Iterator[WorkerThread]:
    running = WorkerThread(fast_settings).start()
    try:
        yield running
    finally:
        running.stop()


async def test_an_answer_after_a_reminder_is_listed_after_it_with_business_dates(
    fast_settings: HubSettings, fast_worker: WorkerThread, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    information, choice = permit_chosen(case_id)  # the person's choice raises the request
    request_id = chosen_request_id(choice)
    police = dev_client(fast_settings, "police-93")
    prefecture = dev_client(fast_settings, "prefecture-93")
    await police.start()
    await prefecture.start()
    try:
        await police.publish(prefecture_consent(case_id))
        await police.publish(information)
        await police.publish(choice)

        async def reminded() -> bool:
            for message in await prefecture.receive(expected=10**6, timeout_s=1.0):
                event = message.event
                if isinstance(event, Escalation) and event.request_id == request_id:
                    return True
            return False

        await eventually(reminded, timeout_s=WAIT_S, what="the prefecture reminded")
        await prefecture.acknowledge(case_id, request_id, AckStatus.ACCEPTED)
    finally:
        await police.stop()
        await prefecture.stop()

    codec = Codec(SchemaRegistry.load(fast_settings.schemas_dir))

    async def replayed_with_the_answer() -> object:
        replay = await replay_case(
            fast_settings,
            tmp_path / "index.sqlite",
            codec,
            default_key_store(fast_settings.data_dir),
            operator_categories(fast_settings.config_dir),
            Directory.load(fast_settings.config_dir),
            case_id,
        )
        actions = [i.action for i in replay.items]
        return replay if AuditAction.ACKNOWLEDGED.value in actions else None

    replay = await eventually(replayed_with_the_answer, timeout_s=WAIT_S, what="the answer")
    assert replay.verified, replay.problems  # type: ignore[attr-defined]
    items = replay.items  # type: ignore[attr-defined]
    instants = [datetime.fromisoformat(i.recorded_at) for i in items]
    # Every date is on the business clock (none is the wall clock's December 2026) ...
    assert min(instants) >= START, [i.isoformat() for i in instants]
    # ... and the page reads in business-time order, the answer after the reminder.
    assert instants == sorted(instants)
    actions = [i.action for i in items]
    assert actions.index(AuditAction.ESCALATED.value) < actions.index(
        AuditAction.ACKNOWLEDGED.value
    )
