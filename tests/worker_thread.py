"""A routing worker in its own thread and event loop, for in-process stream tests; with
``health=True`` it also serves /healthz, /readyz and /metrics (``agents.health``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from agents.health import HealthServer, serve_health
from agents.router import Router
from agents.worker import run_worker
from connectors.client import AgencyClient
from hub.runtime.clock import Clock
from hub.runtime.settings import HubSettings

READY_TIMEOUT_S = 60.0
AgencyFactory = Callable[[str], Awaitable[AgencyClient]]


class TravelClock:
    """The wall clock moved by ``offset``, which a test sets: a worker on it handles a case
    as if years ago, then comes back to the present (``offset = timedelta(0)``)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class WorkerThread:
    """A routing worker running in its own thread and event loop, stopped on exit."""

    def __init__(
        self, settings: HubSettings, *, health: bool = False, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.router: Router | None = None
        self.health: HealthServer | None = None
        self._with_health = health
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def health_url(self) -> str:
        assert self.health is not None, "started without health=True"
        return self.health.url

    def _main(self) -> None:
        async def until_assigned(router: Router) -> None:
            if self._with_health:
                self.health = await serve_health(self.settings, router)
            await router.ready.wait()
            self._ready.set()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(router: Router) -> None:
                self.router = router
                task = asyncio.get_running_loop().create_task(until_assigned(router))
                self._tasks.add(task)

            try:
                await run_worker(self.settings, self._stop, clock=self._clock, on_ready=ready)
            finally:
                if self.health is not None:
                    await self.health.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc
            self._ready.set()

    def start(self) -> WorkerThread:
        self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("worker did not get its partitions in time")
        if self._error is not None:
            raise RuntimeError("worker failed to start") from self._error
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._error is not None:
            raise RuntimeError("worker failed") from self._error
