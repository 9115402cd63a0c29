"""The gateway as a real ``hub --log-json gateway`` process, under abuse from loopback clients.

A client that drops mid-body is an ordinary event: one info line, no traceback, and the only
event loop keeps answering everyone else. Whatever the clients send, the process's log holds
no fragment of a token (a real one, a wrong secret on a real token id).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eventually import eventually_sync
from gateway_fixtures import as_json, bearer, demo_tokens, story

from hub.runtime.broker import LOOPBACK, free_port
from hub.runtime.settings import HubSettings

HUB = str(Path(sys.executable).parent / "hub")
POLICE = "police-93"
STORM_CLIENTS = 200
STORM_CONCURRENCY = 20
# The target is 50 ms (measured: docs/GATEWAY.md). The bound only has to catch the old
# behaviour (every probe waited out its 5 s timeout) and never a loaded machine: 261 ms was
# seen once in a full run on two busy cores, so half the probe's timeout is the bound.
P99_BOUND_S = 2.5
BAD_SECRET = "Zq9" + "x7Kp2Lw8Vn4Rt6Yb3Hm5Jc1Df0Gs" + "QeUa"


class GatewayProcess:
    """``hub --log-json gateway`` on a loopback port, its stderr in ``log_path``."""

    def __init__(self, settings: HubSettings, log_path: Path) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "HUB_DATA_DIR": str(settings.data_dir),
            "HUB_GATEWAY_RATE_PER_SECOND": "1000",
            "HUB_GATEWAY_RATE_BURST": "1000",
        }
        env.pop("HUB_LOG_JSON", None)  # the flag alone must give JSON lines
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [HUB, "--log-json", "gateway", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        def up() -> bool:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        eventually_sync(up, timeout_s=30, what="the gateway answers /healthz")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.log_path.read_text()


@pytest.fixture
def gateway(hub_settings: HubSettings, tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(hub_settings, tmp_path / "gateway.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def _drop_mid_body(port: int, token: str) -> None:
    """Headers and half of a declared body, then close: the client is gone mid-request."""
    body = json.dumps({"subject": "fr.nrm.ReferralOpened", "event": {"pad": "x" * 2000}})
    head = (
        f"POST /v1/agencies/{POLICE}/events HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    _reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(head.encode() + body[: len(body) // 2].encode())
        await writer.drain()
        await asyncio.sleep(0.02)  # let the gateway authenticate and start reading the body
    finally:
        writer.close()
        await writer.wait_closed()


async def _storm(port: int, token: str) -> None:
    gate = asyncio.Semaphore(STORM_CONCURRENCY)

    async def one() -> None:
        async with gate:
            await _drop_mid_body(port, token)

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(STORM_CLIENTS))), timeout=60)


async def _probe_healthz(url: str, storm: asyncio.Task[None]) -> list[float]:
    """Latencies of /healthz while the storm runs, and for the 100 probes after it."""
    latencies: list[float] = []
    after = 0
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:
        while after < 100 and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = await client.get("/healthz")
                assert answer.status_code == 200
                latencies.append(time.perf_counter() - started)
            except httpx.TimeoutException:
                latencies.append(5.0)
            if storm.done():
                after += 1
            await asyncio.sleep(0.005)
    return latencies


def _log_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"--log-json ignored, a line that is not JSON: {line[:200]}")
    return parsed


async def test_a_disconnect_storm_leaves_healthz_fast_and_the_log_one_line_each(
    gateway: GatewayProcess, hub_settings: HubSettings
) -> None:
    token = demo_tokens(hub_settings.config_dir)[POLICE]
    # A first request verifies the token once (the slow key derivation is then cached).
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as client:
        answer = await client.get(f"/v1/agencies/{POLICE}/inbox", headers=bearer(token))
        assert answer.status_code == 200, answer.text

    storm = asyncio.create_task(_storm(gateway.port, token))
    latencies = await _probe_healthz(gateway.url, storm)
    await storm

    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"healthz during a storm of {STORM_CLIENTS} disconnects: p99 {p99 * 1000:.1f} ms")
    assert p99 < P99_BOUND_S, f"/healthz p99 {p99 * 1000:.0f} ms during the disconnect storm"

    text = gateway.stop()
    assert "Traceback" not in text
    events = _log_lines(text)
    gone = [e for e in events if e.get("event") == "gateway.client_disconnected"]
    assert gone, "a client that drops mid-body is logged"
    assert all(e["level"] == "info" for e in gone)
    assert not [e for e in events if e.get("event") == "gateway.defect"]


async def test_no_fragment_of_a_token_reaches_the_log(
    gateway: GatewayProcess, hub_settings: HubSettings
) -> None:
    token = demo_tokens(hub_settings.config_dir)[POLICE]
    _prefix, token_id, secret = token.split(".", 2)
    wrong = f"nrm.{token_id}.{BAD_SECRET}"
    event = as_json(story(uuid.uuid4())["ReferralOpened"])
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as client:
        published = await client.post(
            f"/v1/agencies/{POLICE}/events", json=event, headers=bearer(token)
        )
        assert published.status_code == 202, published.text
        refused = await client.post(
            f"/v1/agencies/{POLICE}/events", json=event, headers=bearer(wrong)
        )
        assert refused.status_code == 401
        malformed = await client.post(
            f"/v1/agencies/{POLICE}/events",
            content=b"{",
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert malformed.status_code in (400, 422)
    await _drop_mid_body(gateway.port, token)
    await _drop_mid_body(gateway.port, wrong)

    text = gateway.stop()
    assert "gateway.published" in text  # the log of a run that did use the tokens
    for value in (secret, BAD_SECRET):
        for length in range(6, len(value) + 1):
            assert value[:length] not in text, f"a {length}-character prefix of a secret is logged"
    assert token_id not in text
    assert "Traceback" not in text
