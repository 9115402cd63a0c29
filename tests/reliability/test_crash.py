"""Crash safety: `hub worker` processes SIGKILLed at random moments while referrals stream in
and their deadlines come due (simulated clock), restarted each time.

Every event must reach every intended inbox as the agency client sees it (de-duplicated by
event id), no agency client may see one logical message twice, and each step of each
deadline's ladder must reach its target exactly once. Duplicate records on the topics are
expected under at-least-once and reported separately.

Default sizes suit `make test`; the full run (docs/RELIABILITY.md) sets
``NRM_CRASH_EVENTS=10000 NRM_CRASH_KILLS=10 NRM_CRASH_RATE=100``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agency_clients import ClientFactory
from eventually import eventually
from figures import Report, env_int
from flow_helpers import (
    consent_for,
    events_for,
    fresh,
    permit_chosen,
    prefecture_consent,
)
from topic_scan import duplicate_records, event_ids
from worker_process import WorkerProcess

from agents.io.reader import read_topics
from connectors.client import AgencyClient
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, ExploitationType, Urgency
from hub.contracts.events import Escalation, PresumedVictimReport
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, ESCALATIONS, ORPHANED_NEEDS, inbox_topic
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.slow

EVENTS = env_int("NRM_CRASH_EVENTS", 1000)
KILLS = env_int("NRM_CRASH_KILLS", 3)
RATE = env_int("NRM_CRASH_RATE", 60)  # events per second
SEED = env_int("NRM_CRASH_SEED", random.SystemRandom().randrange(2**31))
# 100,000 simulated seconds per wall second: a permit's 5-working-day deadline and its ladder
# (+1, +2 working days) pass in about ten seconds, so deadlines come due all through the run.
CLOCK = {
    "HUB_CLOCK_START": "2026-11-23T08:00:00+00:00",
    "HUB_CLOCK_SPEED": "100000",
}
REPORT_SHARE = 5  # one event in five is a presumed-victim report (two recipients)
READY_TIMEOUT_S = 60.0

Key = tuple[str, uuid.UUID, str, str]
"""(agency, case, message type, ladder step or "") of a message an agency expects."""


@dataclass
class Expectations:
    """What each agency must see, and what each agency's client did see."""

    expected: Counter[Key] = field(default_factory=Counter)
    seen: Counter[tuple[Key, uuid.UUID | None]] = field(default_factory=Counter)
    cases: set[uuid.UUID] = field(default_factory=set)

    def permit(self, case_id: uuid.UUID) -> None:
        self.cases.add(case_id)
        self.expected[("prefecture-93", case_id, "PermitRequested", "")] += 1
        self._ladder(case_id, "prefecture-93")

    def report(self, case_id: uuid.UUID) -> None:
        self.cases.add(case_id)
        for authority in ("inspection-travail-93", "police-93"):
            self.expected[(authority, case_id, "PresumedVictimReport", "")] += 1
            self._ladder(case_id, authority)

    def _ladder(self, case_id: uuid.UUID, recipient: str) -> None:
        self.expected[(recipient, case_id, "Escalation", "REMINDER")] += 1
        self.expected[("coordination-idf", case_id, "Escalation", "SUPERVISOR")] += 1
        self.expected[("miprof", case_id, "Escalation", "NATIONAL_COORDINATION")] += 1

    def saw(self, agency: str, event: object) -> None:
        case_id = event.envelope.case_id  # type: ignore[attr-defined]
        if case_id not in self.cases:
            return
        step, deadline = "", None
        if isinstance(event, Escalation):
            step, deadline = event.step.value, event.deadline_id
        key = (agency, case_id, type(event).__name__, step)
        self.seen[(key, deadline)] += 1

    def found(self) -> Counter[Key]:
        """Distinct messages (by deadline for escalations) per expected key."""
        distinct: Counter[Key] = Counter()
        for key, _deadline in self.seen:
            distinct[key] += 1
        return distinct

    def lost(self) -> int:
        found = self.found()
        return sum(max(0, n - found[key]) for key, n in self.expected.items())

    def client_duplicates(self) -> int:
        """Logical messages a client yielded more than once, or beyond what was expected
        (a step fired twice under two event ids would show here)."""
        repeated = sum(n - 1 for n in self.seen.values() if n > 1)
        found = self.found()
        extra = sum(max(0, n - self.expected[key]) for key, n in found.items())
        return repeated + extra

    def complete(self) -> bool:
        return self.lost() == 0


def assigned_count(log_path: Path) -> int:
    """How many times a worker writing to ``log_path`` got its partitions."""
    if not log_path.exists():
        return 0
    count = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if '"router.assigned"' in line:
            count += 1
    return count


async def wait_assigned(log_path: Path, before: int) -> None:
    await eventually(
        lambda: assigned_count(log_path) > before,
        timeout_s=READY_TIMEOUT_S,
        interval_s=0.1,
        what="the restarted worker getting its partitions",
    )


async def publish_stream(
    police: AgencyClient, association: AgencyClient, plan: Expectations
) -> None:
    """EVENTS referrals at RATE per second, each on a case of its own."""
    started = time.monotonic()
    for index in range(EVENTS):
        case_id = uuid.uuid4()
        story = events_for(case_id)
        if index % REPORT_SHARE == REPORT_SHARE - 1:
            base = story[PresumedVictimReport]
            report = fresh(
                base,
                case_id,
                urgency=Urgency.ROUTINE,
                exploitation_types=(ExploitationType.LABOUR, ExploitationType.SEXUAL),
            )
            plan.report(case_id)
            # An association has no duty to report: the adult agreed to tell the authorities.
            identifying = (AgencyRole.POLICE_GENDARMERIE, AgencyRole.LABOUR_INSPECTORATE)
            await association.publish(consent_for(*identifying, case_id=case_id))
            await association.publish(report)
        else:
            plan.permit(case_id)
            await police.publish(prefecture_consent(case_id))
            for event in permit_chosen(case_id):  # her choice raises the permit request
                await police.publish(event)
        pause = started + (index + 1) / RATE - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)  # pacing the load at RATE, not waiting for anything


async def read_inboxes(
    readers: dict[str, AgencyClient], plan: Expectations, stop: asyncio.Event
) -> None:
    async def one(agency: str, client: AgencyClient) -> None:
        while not stop.is_set():
            for message in await client.receive(expected=100_000, timeout_s=0.5):
                plan.saw(agency, message.event)

    await asyncio.gather(*(one(agency, client) for agency, client in readers.items()))


async def test_sigkilled_workers_lose_nothing_and_clients_see_everything_once(
    own_settings: HubSettings, clients: ClientFactory, tmp_path: Path, report: Report
) -> None:
    rng = random.Random(SEED)
    plan = Expectations()
    log_path = tmp_path / "worker.log"
    env = {**CLOCK, "HUB_CLOCK_ANCHOR": datetime.now(UTC).isoformat()}
    police = await clients("police-93")
    association = await clients("association-93")
    readers = {
        "prefecture-93": await clients("prefecture-93"),
        "police-93": police,
        "inspection-travail-93": await clients("inspection-travail-93"),
        "coordination-idf": await clients("coordination-idf"),
        "miprof": await clients("miprof"),
    }
    stream_s = EVENTS / RATE
    ladder_s = 15.0  # the last event's ladder, in wall seconds at the simulated speed
    gap = (stream_s + 5.0) / max(1, KILLS)
    kills: list[float] = []
    stop_reading = asyncio.Event()
    worker = WorkerProcess(own_settings, log_path, **env).start()
    started = time.monotonic()
    try:
        await wait_assigned(log_path, 0)
        reading = asyncio.create_task(read_inboxes(readers, plan, stop_reading))
        publishing = asyncio.create_task(publish_stream(police, association, plan))
        for _ in range(KILLS):
            # Half the kills land while a restarted worker works through the backlog that
            # built up while it was down (and the ladder steps that fell due meanwhile).
            busy = rng.random() < 0.5
            # This sleep times the next kill (the chaos itself): it waits for nothing.
            await asyncio.sleep(rng.uniform(0.05, 1.0) if busy else rng.uniform(0.2, gap))
            before = assigned_count(log_path)
            worker.kill()
            kills.append(round(time.monotonic() - started, 2))
            worker = WorkerProcess(own_settings, log_path, **env).start()
            await wait_assigned(log_path, before)
        await asyncio.wait_for(publishing, timeout=stream_s * 3 + 60)
        # What is still missing then is counted below, with the figures, and asserted.
        with contextlib.suppress(AssertionError):
            await eventually(
                plan.complete,
                timeout_s=90 + ladder_s + EVENTS / 100,
                interval_s=0.5,
                what="every expected message seen",
            )
        # A quiet period, not synchronisation: anything fired twice late arrives in it, and
        # the duplicates are counted below with the figures.
        await asyncio.sleep(2.0)
        stop_reading.set()
        await asyncio.wait_for(reading, timeout=30)
    finally:
        stop_reading.set()
        worker.stop()
    elapsed = time.monotonic() - started

    codec = Codec(SchemaRegistry.load(own_settings.schemas_dir))
    inboxes = [inbox_topic(a) for a in readers]
    records = await read_topics(own_settings, [*inboxes, ESCALATIONS.name, ORPHANED_NEEDS.name])
    counts = event_ids(records, codec)
    inbox_counts = Counter({k: n for k, n in counts.items() if k[0] in inboxes})
    escalation_counts = Counter({k: n for k, n in counts.items() if k[0] == ESCALATIONS.name})
    orphan_counts = Counter({k: n for k, n in counts.items() if k[0] == ORPHANED_NEEDS.name})
    orphaned_deadlines = {
        codec.decode_event(r.value or b"").deadline_id  # type: ignore[attr-defined]
        for r in records
        if r.topic == ORPHANED_NEEDS.name
    }
    dead_letters = await read_topics(own_settings, [DEAD_LETTERS.name])
    deadlines = sum(n for (_agency, _case, _type, step), n in plan.expected.items() if not step)
    figures = {
        "events_sent": EVENTS,
        "crashes": len(kills),
        "kill_times_s": kills,
        "seed": SEED,
        "expected_messages": sum(plan.expected.values()),
        "lost": plan.lost(),
        "duplicates_at_clients": plan.client_duplicates(),
        "duplicates_on_topics": {
            "inboxes": duplicate_records(inbox_counts),
            "escalations": duplicate_records(escalation_counts),
            "orphaned_needs": duplicate_records(orphan_counts),
        },
        "redelivered_dropped_by_clients": sum(c.redelivered for c in readers.values()),
        "deadlines": deadlines,
        "escalation_events": len(escalation_counts),
        "orphaned_needs": len(orphaned_deadlines),
        "orphaned_need_event_ids": len(orphan_counts),
        "dead_letters": len(dead_letters),
        "signature_rejections_at_clients": sum(len(c.rejected) for c in readers.values()),
        "seconds": round(elapsed, 1),
    }
    report("crash", figures)
    found = plan.found()
    missing = [k for k, n in plan.expected.items() if found[k] < n][:10]
    assert figures["lost"] == 0, json.dumps([list(map(str, k)) for k in missing])
    assert figures["duplicates_at_clients"] == 0
    assert figures["signature_rejections_at_clients"] == 0
    assert figures["dead_letters"] == 0
    assert len(escalation_counts) == 3 * deadlines
    assert len(orphaned_deadlines) == deadlines
