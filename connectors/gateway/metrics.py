"""The gateway's Prometheus metrics, served on ``GET /metrics`` (``deploy/prometheus.yml``).

Requests by method, route template and status, and their latency, come from the one HTTP
mechanism the dashboard uses too (``connectors/http_metrics.py``); the gateway adds what only it
has: publishes the broker did not take, and inbox long-polls (how many, how many waiting now).
Its own ``CollectorRegistry``, so tests can build several gateways in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from connectors.http_metrics import HttpMetrics

PREFIX = "nrm_gateway"


class GatewayMetrics:
    """Every metric of one gateway process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.http = HttpMetrics(self.registry, PREFIX)
        self.publish_failures = Counter(
            f"{PREFIX}_publish_failures",
            "Authenticated, valid publishes and acknowledgements not written to the outbox, by "
            "machine reason (BROKER_UNAVAILABLE: the broker did not acknowledge in time).",
            ("reason",),
            registry=self.registry,
        )
        self.long_polls = Counter(
            f"{PREFIX}_inbox_long_polls",
            "Inbox reads that asked to wait for a first message (wait > 0).",
            registry=self.registry,
        )
        self.long_polls_waiting = Gauge(
            f"{PREFIX}_inbox_long_polls_in_progress",
            "Inbox long-polls being served right now.",
            registry=self.registry,
        )
