"""Prometheus metrics of a routing worker: a custom Collector over what a router exposes.

Nothing is counted twice: the worker's stats (``agents.stats.RouterStats``, an observer of the
loop's hooks) keep plain counters, the router keeps its own indexes, and this collector turns
them into metric families at scrape time. It reads them through ``RouterView``, never the
``Router`` class itself. Gauges that need a walk (held messages, open and overdue deadlines by
ladder step) cost O(owned cases) and O(open deadlines) per scrape, once every scrape interval
(15 s), never on the routing path. Consumer lag needs an await: ``await collector.refresh()``
before each collection (the health server does it in ``/metrics``).

Counters a stats object does not have (events in and out by topic and type, audit entries by
action, the latency histograms) are exported as soon as it has them; until then their
families are simply absent.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from datetime import datetime
from typing import Any, Final, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from agents.stats import LatencyHistogram, RouterStats
from hub.flow.case_state import CaseState
from hub.rules.deadlines.open_deadline import OpenDeadline

NOT_YET: Final = "NONE"
"""The ladder-step label of a deadline none of whose steps has fired."""
_LAG_KEY: Final = re.compile(r"^(?P<topic>.+)\[(?P<partition>\d+)\]$")


class OwnedStates(Protocol):
    """The case states a worker owns."""

    @property
    def partitions(self) -> set[int]:
        """The partitions owned."""
        ...

    def states(self, partition: int) -> Iterable[CaseState]:
        """The states of one owned partition."""
        ...

    def count(self) -> int:
        """How many states."""
        ...


class Followed(Protocol):
    """A directory snapshot being followed."""

    @property
    def current(self) -> Sized:
        """The agencies now."""
        ...

    @property
    def refused(self) -> Mapping[Any, int]:
        """Directory records refused (not signed by the directory authority), by reason."""
        ...


class RouterView(Protocol):
    """What the collector reads of a running router."""

    @property
    def stats(self) -> RouterStats:
        """The loop's counters."""
        ...

    @property
    def store(self) -> OwnedStates:
        """The owned case states."""
        ...

    @property
    def deadlines(self) -> Iterable[OpenDeadline]:
        """The owned open deadlines."""
        ...

    @property
    def directory(self) -> Followed:
        """The directory routing uses."""
        ...

    @property
    def settled(self) -> asyncio.Event:
        """Set when the assignment's states are rebuilt."""
        ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """The hub's clock (overdue is measured against it)."""
        ...

    async def consumer_lag(self) -> dict[str, int]:
        """Records not yet read, per outbox partition."""
        ...


class RouterCollector(Collector):
    """The worker's metric families, read from a router at scrape time."""

    def __init__(self, router: RouterView) -> None:
        self.router = router
        self._lag: dict[str, int] = {}

    async def refresh(self) -> None:
        """Read what needs an await (consumer lag) before the next ``collect``."""
        self._lag = await self.router.consumer_lag()

    def collect(self) -> Iterator[Metric]:
        """Every family; called by the registry on each scrape."""
        router = self.router
        stats = router.stats
        yield _counter("nrm_router_records", "Records read from agency outboxes.", stats.records)
        yield _counter("nrm_router_batches", "Batches processed.", stats.batches)
        yield from _labelled_counter(
            "nrm_router_events_in",
            "Records read, by outbox topic and event type ('rejected': refused at ingest).",
            ("topic", "type"),
            getattr(stats, "events_in", None),
        )
        yield from _labelled_counter(
            "nrm_router_events_out",
            "Records written, by topic and event type.",
            ("topic", "type"),
            getattr(stats, "events_out", None),
        )
        phases = CounterMetricFamily(
            "nrm_router_loop_seconds",
            "Seconds the routing loop spent per phase (fetch, process — deciding and waiting "
            "for the writes' acknowledgements — commit, tick), working or waiting.",
            labels=["phase"],
        )
        for phase, seconds in sorted(stats.loop_seconds.items()):
            phases.add_metric([phase], seconds)
        yield phases
        decisions = CounterMetricFamily(
            "nrm_router_decisions", "Routing decisions, by kind.", labels=["kind"]
        )
        for kind, value in (
            ("routed", stats.routed),
            ("delivered", stats.delivered),
            ("held", stats.held),
            ("duplicate", stats.duplicates),
            ("escalated", stats.escalations),
            ("dead_lettered", sum(stats.dead_letters.values())),
        ):
            decisions.add_metric([kind], value)
        yield decisions
        yield from _labelled_counter(
            "nrm_router_audit_entries",
            "Audit entries written, by action.",
            ("action",),
            getattr(stats, "audit_actions", None),
        )
        yield from _labelled_counter(
            "nrm_router_refusal_notices",
            "Refusal notices to outbox owners: sent, or withheld by the per-agency budget.",
            ("outcome",),
            getattr(stats, "refusal_notices", None),
        )
        dead = CounterMetricFamily(
            "nrm_router_dead_letters", "Dead letters written, by reason.", labels=["reason"]
        )
        for reason, value in sorted(stats.dead_letters.items()):
            dead.add_metric([reason], value)
        yield dead
        yield from self._state_gauges()
        yield from self._deadline_gauges()
        for name, documentation, attribute in (
            (
                "nrm_router_batch_duration_seconds",
                "Time to decide and write one batch, until every write is acknowledged.",
                "batch_seconds",
            ),
            (
                "nrm_router_record_latency_seconds",
                "From a record's broker timestamp to every write of its batch acknowledged.",
                "record_latency",
            ),
        ):
            histogram = getattr(stats, attribute, None)
            if isinstance(histogram, LatencyHistogram):
                yield HistogramMetricFamily(
                    name, documentation, buckets=histogram.cumulative(), sum_value=histogram.total
                )
        lag = GaugeMetricFamily(
            "nrm_router_consumer_lag",
            "Records not yet read, per outbox partition (from the last fetch's high watermark).",
            labels=["topic", "partition"],
        )
        for key, value in sorted(self._lag.items()):
            match = _LAG_KEY.match(key)
            topic, partition = (match["topic"], match["partition"]) if match else (key, "")
            lag.add_metric([topic, partition], value)
        yield lag

    def _state_gauges(self) -> Iterator[Metric]:
        router = self.router
        owned = router.store.partitions
        holds = sum(len(s.holds) for p in owned for s in router.store.states(p))
        yield GaugeMetricFamily("nrm_router_holds", "Messages held for consent now.", value=holds)
        yield GaugeMetricFamily(
            "nrm_router_cases", "Case states this worker owns.", value=router.store.count()
        )
        yield GaugeMetricFamily(
            "nrm_router_owned_partitions", "Outbox partitions this worker owns.", value=len(owned)
        )
        yield GaugeMetricFamily(
            "nrm_router_settled",
            "1 when the partitions are assigned and their states rebuilt.",
            value=1.0 if router.settled.is_set() else 0.0,
        )
        yield GaugeMetricFamily(
            "nrm_router_directory_agencies",
            "Agencies in the directory snapshot routing uses.",
            value=len(router.directory.current),
        )
        yield from _labelled_counter(
            "nrm_directory_refused",
            "Directory records refused, by reason: not proven by the directory authority.",
            ("reason",),
            {str(reason): count for reason, count in router.directory.refused.items()},
        )

    def _deadline_gauges(self) -> Iterator[Metric]:
        now = self.router.clock()
        open_by: Counter[str] = Counter()
        overdue_by: Counter[str] = Counter()
        for deadline in self.router.deadlines:
            step = deadline.last_step.value if deadline.last_step is not None else NOT_YET
            open_by[step] += 1
            if deadline.is_overdue(now):
                overdue_by[step] += 1
        for name, documentation, counts in (
            (
                "nrm_router_deadlines_open",
                "Open deadlines, by the last ladder step fired (NONE: none yet).",
                open_by,
            ),
            (
                "nrm_router_deadlines_overdue",
                "Deadlines past due, by the last ladder step fired (NONE: none yet).",
                overdue_by,
            ),
        ):
            family = GaugeMetricFamily(name, documentation, labels=["step"])
            for step in (NOT_YET, "REMINDER", "SUPERVISOR", "NATIONAL_COORDINATION"):
                family.add_metric([step], counts.get(step, 0))
            yield family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _labelled_counter(
    name: str, documentation: str, labels: Sequence[str], values: Mapping[Any, int] | None
) -> Iterator[Metric]:
    if values is None:
        return
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    for key, value in sorted(values.items(), key=lambda kv: str(kv[0])):
        parts = key if isinstance(key, tuple) else (key,)
        family.add_metric([str(p) for p in parts], value)
    yield family
