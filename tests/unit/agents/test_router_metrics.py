"""The worker's Prometheus collector, over a router's counters, states and deadlines."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.hooks import HookChain
from agents.metrics import RouterCollector, RouterView
from agents.stats import LatencyHistogram, RouterStats, record_latency_histogram
from hub.contracts.enums import AgencyRole, AuditAction, DeadLetterReason, Urgency
from hub.flow.case_state import CaseState
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import AuditNote, Outcome
from hub.rules.deadlines.open_deadline import open_deadline
from hub.rules.deadlines.policy import DeadlinePolicy
from hub.runtime.settings import PROJECT_ROOT

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    partitions: set[int] = field(default_factory=lambda: {0, 1})

    def states(self, partition: int) -> list[Any]:
        return []

    def count(self) -> int:
        return 3


@dataclass
class FakeDirectory:
    current: list[str] = field(default_factory=lambda: ["a", "b"])
    refused: dict[str, int] = field(default_factory=lambda: {"UNSIGNED": 2})


class FakeRouter:
    def __init__(self, deadlines: PartitionedDeadlines, now: datetime) -> None:
        self.stats = RouterStats()
        self.store = FakeStore()
        self.deadlines = deadlines
        self.directory = FakeDirectory()
        self.settled = asyncio.Event()
        self.settled.set()
        self.clock = lambda: now

    async def consumer_lag(self) -> dict[str, int]:
        return {"nrm.outbox.police-93[2]": 7}


def samples(collector: RouterCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def deadlines() -> PartitionedDeadlines:
    policy = DeadlinePolicy.load(PROJECT_ROOT / "deploy" / "config" / "deadlines.yaml")
    owned = PartitionedDeadlines()
    owned.assign(
        0,
        [
            open_deadline(
                case_id=uuid.uuid4(),
                request_id=uuid.uuid4(),
                recipient_agency="prefecture-93",
                recipient_role=AgencyRole.PREFECTURE,
                message_type="fr.nrm.PermitRequested",
                departement="93",
                minor=False,
                urgency=Urgency.ROUTINE,
                opened_at=NOW - timedelta(days=days),
                policy=policy,
            )
            for days in (0, 30)
        ],
    )
    return owned


def test_counters_gauges_and_lag_come_from_the_router() -> None:
    router = FakeRouter(deadlines(), NOW)
    router.stats.records = 12
    router.stats.delivered = 5
    router.stats.dead_lettered(DeadLetterReason.BAD_SIGNATURE)
    router.stats.spent("commit", 0.25)
    router.stats.spent("commit", 0.25)
    collector = RouterCollector(cast(RouterView, router))
    asyncio.run(collector.refresh())
    values = samples(collector)
    assert values[("nrm_router_records_total", ())] == 12
    assert values[("nrm_router_decisions_total", (("kind", "delivered"),))] == 5
    assert values[("nrm_router_dead_letters_total", (("reason", "BAD_SIGNATURE"),))] == 1
    assert values[("nrm_router_deadlines_open", (("step", "NONE"),))] == 2
    assert values[("nrm_router_deadlines_overdue", (("step", "NONE"),))] == 1
    lag = (("partition", "2"), ("topic", "nrm.outbox.police-93"))
    assert values[("nrm_router_consumer_lag", lag)] == 7
    assert values[("nrm_router_cases", ())] == 3
    assert values[("nrm_router_owned_partitions", ())] == 2
    assert values[("nrm_router_settled", ())] == 1
    assert values[("nrm_directory_refused_total", (("reason", "UNSIGNED"),))] == 2
    assert 0.5 <= values[("nrm_router_loop_seconds_total", (("phase", "commit"),))] < 1.0


def test_families_the_router_does_not_count_yet_are_absent_then_exported() -> None:
    router = FakeRouter(PartitionedDeadlines(), NOW)
    values = samples(RouterCollector(cast(RouterView, router)))
    assert not any(name.startswith("nrm_router_events_in") for name, _ in values)
    stats: Any = router.stats
    stats.events_in = {("nrm.outbox.police-93", "fr.nrm.PermitRequested"): 4}
    stats.batch_seconds = LatencyHistogram()
    stats.batch_seconds.observe(0.003)
    stats.record_latency = record_latency_histogram()
    values = samples(RouterCollector(cast(RouterView, router)))
    key = (("topic", "nrm.outbox.police-93"), ("type", "fr.nrm.PermitRequested"))
    assert values[("nrm_router_events_in_total", key)] == 4
    assert values[("nrm_router_batch_duration_seconds_count", ())] == 1
    assert values[("nrm_router_batch_duration_seconds_bucket", (("le", "0.005"),))] == 1
    assert values[("nrm_router_batch_duration_seconds_bucket", (("le", "0.0025"),))] == 0
    assert values[("nrm_router_record_latency_seconds_count", ())] == 0


def test_a_latency_histogram_is_cumulative_with_an_infinite_bucket() -> None:
    histogram = LatencyHistogram((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.1", 2.0), ("1.0", 3.0), ("+Inf", 4.0)]
    assert histogram.count == 4
    assert abs(histogram.total - 3.65) < 1e-9


def test_the_stats_count_what_the_loop_tells_its_hooks() -> None:
    stats, other = RouterStats(), RouterStats()
    hooks = HookChain([stats, other])
    state = CaseState(case_id=uuid.uuid4())
    held = AuditNote(AuditAction.HELD, "held until consent covers the required categories")
    hooks.batch_read(3)
    hooks.received("nrm.outbox.police-93", "fr.nrm.PermitRequested")
    hooks.decided(Outcome(state=state, duplicate=True))
    hooks.decided(Outcome(state=state, audit=(held,)))
    hooks.outcome_applied(Outcome(state=state, audit=(held,)), (held,))
    hooks.dead_lettered(DeadLetterReason.REPLAYED)
    hooks.states_written("nrm.case-state", 2)
    hooks.escalated(2)
    hooks.batch_done(0.003, [int(time.time() * 1000)])
    hooks.spent("fetch", 0.5)
    for seen in (stats, other):
        assert (seen.records, seen.duplicates, seen.routed, seen.held) == (3, 1, 1, 1)
        assert seen.audit_actions == {"HELD": 1}
        assert seen.dead_letters == {"REPLAYED": 1}
        assert seen.events_in == {("nrm.outbox.police-93", "fr.nrm.PermitRequested"): 1}
        assert seen.events_out == {
            ("nrm.audit", "fr.nrm.AuditEntry"): 1,
            ("nrm.deadletters", "fr.nrm.DeadLetter"): 1,
            ("nrm.case-state", "case-state"): 2,
        }
        assert (seen.escalations, seen.batches, seen.batch_seconds.count) == (2, 1, 1)
        assert seen.record_latency.count == 1
        assert seen.loop_seconds == {"fetch": 0.5}
