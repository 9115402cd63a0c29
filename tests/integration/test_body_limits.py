"""Huge and deeply nested bodies against every HTTP surface, each served by its real process.

The threat (issue 22, finding 4): a client without credentials streams a huge body and the
server holds it whole before deciding it is too large (a 300 MiB body to ``/connexion`` took
the dashboard from 119 to 734 MiB), or sends ``[[[[…]]]]`` and gets a 500. Each surface runs as
the operator starts it (``hub registry serve``, ``hub dashboard``, ``hub gateway``) in a
subprocess, and its memory is read from ``/proc/<pid>/status``: VmHWM, the peak resident set,
so a body held for a moment and freed right after still counts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eventually import eventually_sync
from gateway_fixtures import bearer, demo_tokens

from hub.runtime.broker import LOOPBACK, free_port
from hub.runtime.settings import HubSettings

HUB = str(Path(sys.executable).parent / "hub")
MiB = 1024 * 1024
BODY = 50 * MiB
CHUNK = 64 * 1024
GROWTH_LIMIT = 10 * MiB
DEEP = 100_000


@dataclass(frozen=True)
class Surface:
    name: str
    command: tuple[str, ...]
    path: str
    headers: dict[str, str]


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def send_huge(
    port: int, surface: Surface, total: int, *, declared: int | None, timeout_s: float = 30.0
) -> int:
    """Stream ``total`` bytes of body to ``surface`` in 64 KiB chunks (chunked encoding when
    ``declared`` is None, else that Content-Length, true or not); the answer's status code."""
    head = [f"POST {surface.path} HTTP/1.1", f"Host: {LOOPBACK}:{port}"]
    head += [f"{name}: {value}" for name, value in surface.headers.items()]
    head.append("Transfer-Encoding: chunked" if declared is None else f"Content-Length: {declared}")
    conn = socket.create_connection((LOOPBACK, port), timeout=timeout_s)
    stop = threading.Event()

    def stream() -> None:
        chunk = b"a" * CHUNK
        framed = b"%x\r\n%s\r\n" % (CHUNK, chunk) if declared is None else chunk
        try:
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for _ in range(total // CHUNK):
                if stop.is_set():
                    return
                conn.sendall(framed)
            if declared is None:
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            return  # the server answered and closed: the rest of the body is refused

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            data = conn.recv(4096)
            if not data:
                break
            answer += data
    finally:
        stop.set()
        sender.join(timeout_s)
        conn.close()
    assert answer.startswith(b"HTTP/1.1 "), f"no answer from {surface.name}: {answer!r}"
    return int(answer.split()[1])


@pytest.fixture(scope="module")
def hub_env(hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("bodies-data")
    return {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": hub_settings.bootstrap_servers,
        "HUB_CONFIG_DIR": str(hub_settings.config_dir),
        "HUB_SCHEMAS_DIR": str(hub_settings.schemas_dir),
        "HUB_DATA_DIR": str(data_dir),
        "HUB_DASHBOARD_INDEX_DIR": str(data_dir / "dashboard-index"),
        "HUB_LOG_JSON": "true",
    }


def surfaces(config_dir: Path) -> list[Surface]:
    token = demo_tokens(config_dir)["police-93"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    as_json = {"Content-Type": "application/json"}
    return [
        Surface(
            "registry",
            (HUB, "registry", "serve"),
            "/compatibility/subjects/fr.nrm.Acknowledgement/versions",
            as_json,
        ),
        Surface("dashboard", (HUB, "dashboard"), "/connexion", form),
        Surface(
            "gateway",
            (HUB, "gateway"),
            "/v1/agencies/police-93/events",
            {**as_json, **bearer(token)},
        ),
    ]


@dataclass
class Served:
    surface: Surface
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@contextmanager
def serving(name: str, env: dict[str, str], config_dir: Path, logs: Path) -> Iterator[Served]:
    """``name``'s surface served by its own ``hub`` process on a loopback port."""
    surface = next(s for s in surfaces(config_dir) if s.name == name)
    port = free_port()
    log_file = logs / f"{name}.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [*surface.command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    running = Served(surface, process, port)

    def answers() -> bool:
        assert process.poll() is None, log_file.read_text()
        try:
            httpx.get(running.url + "/", timeout=2.0)
        except httpx.TransportError:
            return False
        return True

    try:
        eventually_sync(answers, timeout_s=30.0, what=f"{name} accepts connections")
        yield running
    finally:
        process.terminate()
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)


@pytest.fixture(params=["registry", "dashboard", "gateway"])
def served(
    request: pytest.FixtureRequest,
    hub_env: dict[str, str],
    hub_settings: HubSettings,
    tmp_path: Path,
) -> Iterator[Served]:
    with serving(request.param, hub_env, hub_settings.config_dir, tmp_path) as running:
        yield running


def test_a_50_mib_body_is_refused_while_it_arrives(served: Served) -> None:
    surface = served.surface
    small = httpx.post(
        served.url + surface.path, content=b"{}", headers=surface.headers, timeout=10.0
    )
    assert small.status_code < 500  # warmed up: the route's code is loaded
    before = peak_rss(served.process.pid)

    honest = send_huge(served.port, surface, BODY, declared=BODY)
    chunked = send_huge(served.port, surface, BODY, declared=None)
    # A Content-Length of 1 KiB followed by 50 MiB: HTTP framing makes the body 1 KiB; the
    # rest is read as garbage where the next request should be. Neither may cost memory.
    lying = send_huge(served.port, surface, BODY, declared=1024)

    growth = peak_rss(served.process.pid) - before
    seen = {
        "declared": honest,
        "chunked": chunked,
        "lying refused": 400 <= lying < 500,
        "grew ≤ 10 MiB": growth <= GROWTH_LIMIT,
    }
    assert seen == {
        "declared": 413,
        "chunked": 413,
        "lying refused": True,
        "grew ≤ 10 MiB": True,
    }, f"{surface.name}: lying → {lying}, grew by {growth / MiB:.1f} MiB"
    assert served.process.poll() is None
    after = httpx.post(
        served.url + surface.path, content=b"{}", headers=surface.headers, timeout=10.0
    )
    assert after.status_code == small.status_code  # still serving as before


@pytest.mark.parametrize("name", ["registry", "gateway"])
def test_json_nested_100k_deep_or_not_avro_is_a_client_error(
    name: str, hub_env: dict[str, str], hub_settings: HubSettings, tmp_path: Path
) -> None:
    with serving(name, hub_env, hub_settings.config_dir, tmp_path) as served:
        post_deep_bodies(served)


def post_deep_bodies(served: Served) -> None:
    name = served.surface.name
    deep = "[" * DEEP + "]" * DEEP
    # Parses (900 levels), but is no Avro schema: a 422 too, not the parser's crash.
    not_avro = "{" + '"type": {' * 900 + '"type": "int"' + "}" * 901
    headers = served.surface.headers
    bodies = {
        "registry": [deep, json.dumps({"schema": deep}), json.dumps({"schema": not_avro})],
        "gateway": [deep, '{"subject": "fr.nrm.Referral", "event": ' + deep + "}"],
    }[name]
    paths = [served.surface.path]
    if name == "gateway":
        paths.append("/v1/agencies/police-93/acknowledgements")
    for path in paths:
        for body in bodies:
            answer = httpx.post(served.url + path, content=body, headers=headers, timeout=10.0)
            assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
    assert served.process.poll() is None
