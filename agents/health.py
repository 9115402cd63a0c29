"""A worker's probes and metrics: ``/healthz``, ``/readyz`` and ``/metrics`` on their own port.

``serve_health(settings, router)`` serves them from the worker's own event loop (uvicorn,
without its signal handlers: the worker owns SIGTERM), on ``HUB_HEALTH_HOST`` (loopback by
default) and ``HUB_HEALTH_PORT``, a port apart from anything public.

- ``/healthz``: the event loop answers (liveness: a stuck loop fails it).
- ``/readyz``: 200 only when the broker answers a metadata request, the worker holds its
  assignment with the states rebuilt (``router.settled``) and that assignment holds at least
  one partition (a worker left with none, e.g. after a broker restarted without topics, routes
  nothing), the schema registry is loaded and the directory has agencies; otherwise 503 naming
  the failed checks.
- ``/metrics``: ``agents.metrics.RouterCollector`` plus the process collectors, in the
  Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import structlog
import uvicorn
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.io import clients
from agents.metrics import RouterCollector
from hub.runtime.broker import LOOPBACK, free_port
from hub.runtime.settings import HubSettings

if TYPE_CHECKING:
    from agents.router import Router

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_S: Final = 2.0
PROBE_CACHE_S: Final = 1.0
START_TIMEOUT_S: Final = 10.0


class BrokerProbe:
    """Is the broker answering? One metadata request, at most every ``PROBE_CACHE_S``."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self._client: AIOKafkaClient | None = None
        self._answered_at = -1.0
        self._last = False
        self._lock = asyncio.Lock()

    async def answers(self) -> bool:
        """True when the broker answered within the last ``PROBE_CACHE_S`` or answers now."""
        async with self._lock:
            if time.monotonic() - self._answered_at < PROBE_CACHE_S:
                return self._last
            self._last = await self._probe()
            self._answered_at = time.monotonic()
            return self._last

    async def _probe(self) -> bool:
        try:
            if self._client is None:
                client = clients.raw_client(
                    self.settings, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000)
                )
                await asyncio.wait_for(client.bootstrap(), PROBE_TIMEOUT_S)
                self._client = client
            await asyncio.wait_for(self._client.fetch_all_metadata(), PROBE_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("health.broker_unreachable", error=type(exc).__name__)
            await self.close()
            return False
        return True

    async def close(self) -> None:
        """Close the probe's connection."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), PROBE_TIMEOUT_S)


class _Server(uvicorn.Server):
    """uvicorn inside someone else's event loop: it must not take over the process signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """The running probe server of one worker; ``await stop()`` when the worker stops."""

    def __init__(self, router: Router, settings: HubSettings, host: str, port: int) -> None:
        self.router = router
        self.host = host
        self.port = port
        self.probe = BrokerProbe(settings)
        self.collector = RouterCollector(router)
        self.registry = CollectorRegistry()
        for collector in (self.collector, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self._registry_loaded = len(list(router.codec.registry)) > 0
        app = Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Route("/readyz", self._readyz),
                Route("/metrics", self._metrics),
            ]
        )
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL of the probes."""
        return f"http://{self.host}:{self.port}"

    async def start(self, timeout_s: float = START_TIMEOUT_S) -> HealthServer:
        """Start serving; return once the port accepts connections."""
        self._task = asyncio.create_task(self._server.serve(), name="health-server")
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"health server on {self.url} did not start")
            await asyncio.sleep(0.01)
        log.info("health.serving", url=self.url)
        return self

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving (bounded) and close the broker probe."""
        self._server.should_exit = True
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
            if not done:
                self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.probe.close()

    async def _healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, _request: Request) -> Response:
        checks = {
            "broker": await self.probe.answers(),
            "assignments": self.router.settled.is_set(),
            "partitions": bool(self.router.ownership.owned),
            "registry": self._registry_loaded,
            "directory": len(self.router.directory.current) > 0,
        }
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def _metrics(self, _request: Request) -> Response:
        await self.collector.refresh()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


async def serve_health(
    settings: HubSettings, router: Router, *, host: str | None = None, port: int | None = None
) -> HealthServer:
    """Serve ``router``'s probes and metrics on ``host:port``; defaults: ``HUB_HEALTH_HOST``
    (127.0.0.1) and ``HUB_HEALTH_PORT`` (a free port when unset)."""
    bind = host or settings.health_host or LOOPBACK
    chosen = port if port is not None else settings.health_port
    server = HealthServer(router, settings, bind, chosen if chosen else free_port(bind))
    return await server.start()
