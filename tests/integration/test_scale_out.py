"""Scale-out: two `hub worker` processes in one consumer group share the partitions.

Both run on the session broker with the same data directory (the shared audit-key store).
Police and an association publish ~200 signed events across many cases, half while both
workers run and half after one of them was SIGKILLed mid-stream. Through the agency clients'
de-duplication, every event must reach exactly the right inbox once; the workers' JSON logs
must show the partitions split between them, each handling cases of its own partitions, and
then the survivor taking all four partitions and handling the dead worker's cases.

Two more tests pin down the rebalance callbacks themselves: partitions a worker gets back
are rebuilt from the changelog, and a rebalance that lands in the middle of a batch loses no
state (docs/SCALING.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from eventually import consistently, eventually
from flow_helpers import (
    NOW,
    consent_for,
    events_for,
    fresh,
    inbound,
    permit_chosen,
    prefecture_consent,
)
from flow_helpers import context as flow_context
from worker_process import WorkerProcess
from worker_thread import AgencyFactory

from agents.directory_follower import DirectoryFollower
from agents.worker import build_router, run_worker
from connectors.client import AgencyClient
from hub.audit.keys import MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole
from hub.contracts.events import ConsentGiven, PermitRequested, SupportRequested
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import (
    CASE_STATE,
    DEFAULT_PARTITIONS,
    all_topics,
    inbox_topic,
    outbox_topic,
)
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

pytestmark = pytest.mark.slow

ALL = set(range(DEFAULT_PARTITIONS))
CASES_PER_PHASE = 75  # 50 permit cases (1 event each), 25 support cases (2 events each)
RATE = 40.0  # events per second while publishing
JOIN_TIMEOUT_S = 30.0
DELIVERY_TIMEOUT_S = 40.0
SETTLE_S = 2.0  # a message delivered twice late would arrive within this
STALL_S = 15.0  # longer than a rebalance (3 s join on the embedded broker) and its recovery

Key = tuple[str, uuid.UUID, str]
"""(recipient agency, case, message type)."""


@dataclass
class Plan:
    """What each agency must receive, and what its client yielded (by event id)."""

    expected: Counter[Key] = field(default_factory=Counter)
    seen: dict[Key, list[uuid.UUID]] = field(default_factory=dict)
    cases: set[uuid.UUID] = field(default_factory=set)

    def expect(self, agency: str, case_id: uuid.UUID, kind: type[Any]) -> None:
        self.cases.add(case_id)
        self.expected[(agency, case_id, kind.__name__)] += 1

    def saw(self, agency: str, event: Any) -> None:
        case_id = event.envelope.case_id
        if case_id in self.cases:  # other tests share these inboxes
            key = (agency, case_id, type(event).__name__)
            self.seen.setdefault(key, []).append(event.envelope.event_id)

    def missing(self) -> list[Key]:
        return [k for k, n in self.expected.items() if len(self.seen.get(k, [])) < n]

    def unexpected(self) -> list[Key]:
        """Messages of our cases that no rule should have sent, or sent more than expected
        (two different event ids for one logical message would show here)."""
        return [k for k, ids in self.seen.items() if len(ids) > self.expected.get(k, 0)]


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a worker's log (aiokafka's plain-text warnings skipped)."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
    return lines


def assignments(path: Path) -> list[set[int]]:
    """Every ``router.assigned`` of a worker, in order."""
    return [
        set(line["partitions"]) for line in log_lines(path) if line["event"] == "router.assigned"
    ]


def handled_cases(path: Path, cases: set[uuid.UUID]) -> set[uuid.UUID]:
    """Cases of ``cases`` that the worker logging to ``path`` handled an event of."""
    handled = set()
    for line in log_lines(path):
        if line["event"] == "router.handled":
            case_id = uuid.UUID(line["case_id"])
            if case_id in cases:
                handled.add(case_id)
    return handled


def split_between(first: Path, second: Path) -> bool:
    """Both workers' latest assignments are non-empty, disjoint and cover every partition."""
    a, b = assignments(first), assignments(second)
    return bool(a and b and a[-1] and b[-1] and not a[-1] & b[-1] and a[-1] | b[-1] == ALL)


def cases_for(count: int) -> list[tuple[uuid.UUID, bool]]:
    """(case id, is a support case): two permit cases for one support case."""
    return [(uuid.uuid4(), index % 3 == 2) for index in range(count)]


async def publish_phase(
    cases: list[tuple[uuid.UUID, bool]],
    police: AgencyClient,
    association: AgencyClient,
    plan: Plan,
) -> int:
    """Publish each case's events at RATE per second; return how many were sent.

    A support case sends the consent first for half the cases and last for the others, so
    some requests are held and then released by the consent (same case, same partition,
    two outboxes).
    """
    started = time.monotonic()
    sent = 0
    for index, (case_id, support) in enumerate(cases):
        story = events_for(case_id)
        if support:
            consent = fresh(
                story[ConsentGiven], case_id, recipient_roles=(AgencyRole.SUPPORT_ASSOCIATION,)
            )
            request = fresh(story[SupportRequested], case_id, request_id=uuid.uuid4())
            plan.expect("association-93", case_id, SupportRequested)
            steps = [(association, consent), (police, request)]
            for client, event in steps if index % 2 else reversed(steps):
                await client.publish(event)
                sent += 1
        else:
            plan.expect("prefecture-93", case_id, PermitRequested)
            await police.publish(prefecture_consent(case_id))
            for event in permit_chosen(case_id):  # her choice raises the permit request
                await police.publish(event)
            sent += 1
        pause = started + sent / RATE - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)  # pacing the load at RATE, not waiting for anything
    return sent


async def read_inboxes(readers: dict[str, AgencyClient], plan: Plan, stop: asyncio.Event) -> None:
    async def one(agency: str, client: AgencyClient) -> None:
        while not stop.is_set():
            for message in await client.receive(expected=100_000, timeout_s=0.5):
                plan.saw(agency, message.event)

    await asyncio.gather(*(one(agency, client) for agency, client in readers.items()))


async def test_two_workers_share_partitions_and_survive_a_sigkill(
    hub_settings: HubSettings, agency: AgencyFactory, tmp_path: Path
) -> None:
    plan = Plan()
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    env = {"HUB_LOG_LEVEL": "DEBUG"}  # router.handled lines name each case a worker handled
    police = await agency("police-93")
    association = await agency("association-93")
    readers = {
        "prefecture-93": await agency("prefecture-93"),
        "association-93": association,
    }
    first = WorkerProcess(hub_settings, first_log, **env)
    second = WorkerProcess(hub_settings, second_log, **env)
    stop_reading = asyncio.Event()
    reading: asyncio.Task[None] | None = None
    sent = 0
    try:
        first.start()
        second.start()
        await eventually(
            lambda: split_between(first_log, second_log),
            timeout_s=JOIN_TIMEOUT_S,
            interval_s=0.2,
            what="partitions split between two workers",
        )
        owned = {first_log: assignments(first_log)[-1], second_log: assignments(second_log)[-1]}
        reading = asyncio.create_task(read_inboxes(readers, plan, stop_reading))

        # Phase 1: both workers route.
        phase1 = cases_for(CASES_PER_PHASE)
        sent += await publish_phase(phase1, police, association, plan)
        await eventually(
            lambda: not plan.missing(),
            timeout_s=DELIVERY_TIMEOUT_S,
            interval_s=0.2,
            what="phase 1 delivered",
        )
        phase1_ids = {case_id for case_id, _ in phase1}
        for path, partitions in owned.items():
            handled = handled_cases(path, phase1_ids)
            assert handled, f"{path.name} handled none of the phase-1 cases"
            assert {case_partition(c, DEFAULT_PARTITIONS) for c in handled} <= partitions

        # Phase 2: SIGKILL the first worker mid-stream and keep publishing.
        phase2 = cases_for(CASES_PER_PHASE)
        publishing = asyncio.create_task(publish_phase(phase2, police, association, plan))
        phase2_ids = {case_id for case_id, _ in phase2}
        # Mid-stream: a third of the phase's cases are out (about a second at RATE).
        await eventually(
            lambda: len(plan.cases & phase2_ids) >= CASES_PER_PHASE // 3,
            timeout_s=JOIN_TIMEOUT_S,
            what="a third of phase 2 published",
        )
        before = len(assignments(second_log))
        first.kill()
        killed_at = time.monotonic()
        await eventually(
            lambda: any(a == ALL for a in assignments(second_log)[before:]),
            timeout_s=JOIN_TIMEOUT_S,
            interval_s=0.2,
            what="the survivor owning every partition",
        )
        takeover_s = time.monotonic() - killed_at
        sent += await asyncio.wait_for(publishing, timeout=60)
        await eventually(
            lambda: not plan.missing(),
            timeout_s=DELIVERY_TIMEOUT_S,
            interval_s=0.2,
            what="phase 2 delivered",
        )

        def no_late_duplicate() -> bool:
            assert plan.unexpected() == [], plan.unexpected()[:5]
            return True

        await consistently(
            no_late_duplicate,
            for_s=SETTLE_S,
            interval_s=0.2,
            what="no message delivered twice late",
        )
        stop_reading.set()
        await asyncio.wait_for(reading, timeout=15)
    finally:
        stop_reading.set()
        if reading is not None and not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        first.stop()
        second.stop()

    figures = {
        "events_sent": sent,
        "cases": len(plan.cases),
        "partitions_before_kill": {p.name: sorted(o) for p, o in owned.items()},
        "takeover_s": round(takeover_s, 1),
        "redelivered_dropped_by_clients": sum(r.redelivered for r in readers.values()),
    }
    print(json.dumps({"scale_out": figures}))
    assert sent >= 200
    assert plan.missing() == []
    assert plan.unexpected() == [], plan.unexpected()[:5]
    # The dead worker's partitions moved: the survivor handled cases that live on them.
    taken_over = {
        c
        for c in handled_cases(second_log, phase2_ids)
        if case_partition(c, DEFAULT_PARTITIONS) in owned[first_log]
    }
    assert taken_over, "the survivor handled none of the dead worker's cases"
    assert not any(r.rejected for r in readers.values())


def case_on(partition: int) -> uuid.UUID:
    """A new case id that the default partitioner puts on ``partition``."""
    while True:
        case_id = uuid.uuid4()
        if case_partition(case_id, DEFAULT_PARTITIONS) == partition:
            return case_id


async def test_partitions_kept_across_a_rebalance_are_rebuilt_from_the_changelog(
    hub_settings: HubSettings,
) -> None:
    """Eager rebalancing revokes every partition, then assigns the new set. When this worker
    was out of the group in between (paused past the session timeout: a stalled VM, a long
    stop-the-world pause, CPU starvation), another worker owned its partitions and changed
    their cases; the changelog has the newest states, and they must be the ones used.

    Here the other worker recorded a consent for a case; without it, this worker would hold
    the case's support request instead of delivering it.
    """
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    follower = DirectoryFollower(hub_settings, codec, Directory.load(hub_settings.config_dir))
    router = build_router(hub_settings, follower, codec, key_store=MemoryKeyStore())
    listener = router.ownership
    outbox = outbox_topic("police-93")
    owned = {TopicPartition(outbox, 0), TopicPartition(outbox, 1)}
    case_id = case_on(1)
    ctx = flow_context()

    await listener.on_partitions_assigned(owned)
    assert router.store.get(1, case_id).consent == CaseState(case_id=case_id).consent

    # Meanwhile, the other worker (this one out of the group) records a consent for the case.
    consent = consent_for(AgencyRole.SUPPORT_ASSOCIATION, case_id=case_id)
    newer = handle(CaseState(case_id=case_id), inbound(consent, "association-93", ctx), ctx, NOW)
    producer = AIOKafkaProducer(acks="all", **client_options(hub_settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            CASE_STATE.name,
            newer.state.model_dump_json().encode(),
            key=str(case_id).encode(),
            partition=1,
        )
    finally:
        await producer.stop()

    # Back in the group with the same partitions.
    await listener.on_partitions_revoked(owned)
    await listener.on_partitions_assigned(owned)

    state = router.store.get(1, case_id)
    request = fresh(events_for(case_id)[SupportRequested], case_id)
    outcome = handle(state, inbound(request, "police-93", ctx, offset=1), ctx, NOW)
    assert [d.recipient.id for d in outcome.deliveries] == ["association-93"]
    assert state == newer.state


async def publish_fast(settings: HubSettings, sender: str, events: list[Any], codec: Codec) -> None:
    """Sign and send ``events`` to ``sender``'s outbox in one burst (a backlog)."""
    agency = Directory.load(settings.config_dir).get(sender)
    assert agency is not None
    signer = RecordSigner.for_agency(
        agency, load_private_key(dev_key_path(settings.config_dir, sender))
    )
    topic = outbox_topic(sender)
    producer = AIOKafkaProducer(linger_ms=5, acks="all", **client_options(settings))
    await producer.start()
    try:
        futures = []
        for event in events:
            key = str(event.envelope.case_id).encode()
            value = codec.encode_event(event)
            headers = signer.sign(topic, key, value)
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_a_rebalance_during_a_batch_loses_no_state(tmp_path: Path) -> None:
    """The rebalance callbacks run in aiokafka's coordinator task, at any await of the
    worker's batch. A second worker joins while the first is working through a backlog of
    support requests whose consents it recorded earlier: every request must be delivered.

    On its own broker: 3,000 records and a group of its own would crowd the session broker."""
    count = 1500
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path)
        await create_topics(settings, all_topics(a.id for a in Directory.load(settings.config_dir)))
        codec = Codec(SchemaRegistry.load(settings.schemas_dir))
        cases = [uuid.uuid4() for _ in range(count)]
        consents = [
            consent_for(AgencyRole.SUPPORT_ASSOCIATION, case_id=case_id) for case_id in cases
        ]
        requests = [fresh(events_for(c)[SupportRequested], c) for c in cases]
        first: list[Any] = []
        stops = [asyncio.Event(), asyncio.Event()]
        workers = [asyncio.create_task(run_worker(settings, stops[0], on_ready=first.append))]
        try:
            await publish_fast(settings, "association-93", consents, codec)
            await eventually(
                lambda: bool(first), timeout_s=JOIN_TIMEOUT_S, what="the worker started"
            )
            await eventually(
                lambda: first[0].stats.records >= count,
                timeout_s=60,
                interval_s=0.2,
                what="the consents recorded",
            )
            await publish_fast(settings, "police-93", requests, codec)
            await eventually(
                lambda: first[0].stats.records > count,
                timeout_s=30,
                what="the backlog being worked on",
            )
            workers.append(asyncio.create_task(run_worker(settings, stops[1])))
            consumer = AIOKafkaConsumer(
                inbox_topic("association-93"),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                **client_options(settings),
            )
            await consumer.start()
            delivered: set[uuid.UUID] = set()
            progress = time.monotonic()

            async def all_delivered_or_stalled() -> bool:
                nonlocal progress
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        event = codec.decode_event(record.value)
                        if isinstance(event, SupportRequested):
                            delivered.add(event.envelope.case_id)
                            progress = time.monotonic()
                # Stop early once nothing more arrives: a lost request never will.
                stalled = time.monotonic() - progress > STALL_S
                assert stalled or len(delivered) >= count, f"{len(delivered)} delivered so far"
                return True

            try:
                await eventually(
                    all_delivered_or_stalled,
                    timeout_s=60,
                    max_interval_s=0.2,
                    what="every support request delivered (or a stall)",
                )
            finally:
                await consumer.stop()
        finally:
            for stop in stops:
                stop.set()
            await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 60)
    assert len(delivered) == count, f"{count - len(delivered)} support requests never delivered"
