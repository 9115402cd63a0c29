"""A routing worker in its own thread and event loop that also serves /healthz, /readyz and
/metrics (``agents.health.serve_health``), for the dashboard and metrics tests."""

from __future__ import annotations

import asyncio
import threading

from agents.health import HealthServer, serve_health
from agents.router import Router
from agents.worker import run_worker
from hub.settings import HubSettings

READY_TIMEOUT_S = 60.0


class HealthWorker:
    """``run_worker`` with its health server, started and stopped from the test's thread."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self.router: Router | None = None
        self.health: HealthServer | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def health_url(self) -> str:
        assert self.health is not None
        return self.health.url

    def _main(self) -> None:
        async def serve(router: Router) -> None:
            self.health = await serve_health(self.settings, router)
            await router.ready.wait()
            self._ready.set()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(router: Router) -> None:
                self.router = router
                task = asyncio.get_running_loop().create_task(serve(router))
                self._tasks.add(task)

            try:
                await run_worker(self.settings, self._stop, on_ready=ready)
            finally:
                if self.health is not None:
                    await self.health.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc
            self._ready.set()

    def start(self) -> HealthWorker:
        self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("worker did not get its partitions in time")
        if self._error is not None:
            raise RuntimeError("worker failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._error is not None:
            raise RuntimeError("worker failed") from self._error
