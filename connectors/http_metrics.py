"""Prometheus metrics for the hub's HTTP services (dashboard, gateway): one mechanism for both.

``HttpMetrics(registry, "nrm_dashboard")`` counts requests by method, route *template* (never
the raw path: ids in paths would make one series per case) and status, and times them.
``app.add_middleware(HttpMetricsMiddleware, metrics=...)`` installs it; ``metrics_response``
answers ``GET /metrics`` in the Prometheus text format. Each service keeps its own
``CollectorRegistry`` (not the global one), so tests can build several apps in one process.
"""

from __future__ import annotations

import time
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED: Final = "unmatched"


class HttpMetrics:
    """Request counters and latency histogram of one HTTP service."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.registry = registry
        self.requests = Counter(
            f"{prefix}_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response starts), by route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class HttpMetricsMiddleware:
    """Pure ASGI middleware (streams untouched) that feeds ``HttpMetrics``."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        async def send_and_count(message: Message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                self._observe(scope, int(message["status"]), started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        except Exception:
            if not observed:
                self._observe(scope, 500, started)
            raise

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = str(scope.get("method", "GET"))
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


def metrics_response(registry: CollectorRegistry) -> Response:
    """The registry's metrics in the Prometheus text format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
