"""The dashboard's own Prometheus metrics: what it shows and how fresh its sources are."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connectors.dashboard.actions import ActionLog
from connectors.dashboard.read_model import ReadModel
from hub.contracts.topics import AUDIT
from hub.rules.deadlines.open_deadline import OpenDeadline, overdue


class DashboardCollector(Collector):
    """Reads the read model at scrape time (O(cases) for the deadline counts)."""

    def __init__(self, model: ReadModel, actions: ActionLog, now: Callable[[], datetime]) -> None:
        self.model = model
        self.actions = actions
        self.now = now

    def collect(self) -> Iterator[Metric]:
        """The dashboard's metric families."""
        model = self.model
        deadlines: list[OpenDeadline] = [d for s in model.states for d in s.open_deadlines()]
        yield _gauge(
            "nrm_dashboard_overdue_requests",
            "Requests past due.",
            len(overdue(deadlines, self.now())),
        )
        yield _gauge(
            "nrm_dashboard_consent_holds",
            "Messages held for consent.",
            sum(len(s.holds) for s in model.states),
        )
        yield _gauge(
            "nrm_dashboard_orphaned_needs", "Unresolved orphaned needs.", len(model.orphans)
        )
        yield _gauge(
            "nrm_dashboard_dead_letters_pending",
            "Dead letters shown (not re-driven).",
            len(model.pending_dead_letters()),
        )
        yield _gauge("nrm_dashboard_cases", "Case states last read.", len(model.states))
        age = (
            (datetime.now(UTC) - model.states_read_at).total_seconds()
            if model.states_read_at
            else float("nan")
        )
        yield _gauge(
            "nrm_dashboard_case_states_age_seconds", "Seconds since the case states were read.", age
        )
        yield _gauge(
            "nrm_dashboard_caught_up",
            "1 once the followed topics were read to their high watermark.",
            1.0 if model.caught_up else 0.0,
        )
        yield _counter(
            "nrm_dashboard_records_read",
            "Records read by the read model.",
            "topic",
            model.records_read,
        )
        yield _counter(
            "nrm_dashboard_records_undecodable",
            "Records the read model could not decode.",
            "topic",
            model.undecodable,
        )
        yield _counter(
            "nrm_dashboard_audit_unproven",
            "Audit entries not signed by the hub: left out of answer times and case pages.",
            "topic",
            {AUDIT.name: model.audit_unproven},
        )
        yield _counter(
            "nrm_dashboard_operator_actions",
            "Operator actions recorded to nrm.operator-actions.",
            "action",
            self.actions.recorded,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(
    name: str, documentation: str, label: str, counts: Mapping[str, int]
) -> CounterMetricFamily:
    """One counter family with a sample per ``label`` value, in sorted order."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family
