"""Run an ASGI app with uvicorn on a loopback port in a background thread.

Used wherever the hub serves HTTP next to other work in one process (the demo, tests): the
server is started, awaited until it accepts connections, and stopped on exit.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from hub.runtime.broker import LOOPBACK, free_port


class BackgroundServer:
    """An ASGI app served by uvicorn on ``host:port`` from a daemon thread."""

    def __init__(self, app: Any, *, host: str = LOOPBACK, port: int | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving and wait until the server has started."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
