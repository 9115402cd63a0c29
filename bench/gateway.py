"""Publishing through the HTTP gateway versus publishing directly to Kafka, same run, same broker.

Starts its own embedded broker and the gateway as a separate process (``python -m
connectors.gateway.app`` on a loopback port, as deployed), then publishes the same number of
referral events three ways, each with the same number of requests in flight:

- ``gateway_json``: ``POST /v1/agencies/police-93/events`` with a JSON body (the gateway
  validates the model, encodes Avro, signs as the agency, waits for the broker's ack);
- ``gateway_avro``: the same with a Confluent-framed Avro body (validated by decoding);
- ``kafka_direct``: ``AgencyClient.publish`` (encode, sign, ``send_and_wait``) from this process.

Prints JSON: requests/s and latency percentiles (ms) per way, and the gateway/Kafka ratio.
Bounded: ``--records`` per way (default 2000) and ``--timeout`` seconds in all; the broker and
the gateway process are stopped at the end, whatever happens.

    .venv/bin/python bench/gateway.py [--records 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from connectors.client import AgencyClient
from hub.contracts.codec import Codec
from hub.contracts.events import ReferralOpened
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import LOOPBACK, EmbeddedBroker, free_port
from hub.runtime.logs import configure_logging
from hub.runtime.settings import PROJECT_ROOT, HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

AGENCY = "police-93"
WARMUP = 50


def referrals(count: int) -> list[ReferralOpened]:
    """``count`` referral events, each its own case (so they spread over the partitions)."""
    events = []
    for _ in range(count):
        event = next(e for _s, e in example_events(uuid.uuid4()) if isinstance(e, ReferralOpened))
        events.append(event)
    return events


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    send: Callable[[int], Awaitable[None]], count: int, concurrency: int
) -> dict[str, float]:
    """Run ``send(i)`` for i in range(count) with ``concurrency`` in flight."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            await send(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": count,
        "requests_per_s": round(count / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class KeepAliveConnection:
    """A minimal HTTP/1.1 keep-alive client for POSTs: the load generator must cost far less
    than the gateway (httpx costs 1-2 ms of CPU per request here, as much as the gateway)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, media: str) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}"
            f"Content-Type: {media}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()


def start_gateway(settings: HubSettings, port: int, log_level: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "HUB_LOG_LEVEL": log_level,
        "HUB_LOG_JSON": "true",
        # The benchmark measures throughput, not the rate limit.
        "HUB_GATEWAY_RATE_PER_SECOND": "1000000",
        "HUB_GATEWAY_RATE_BURST": "1000000",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "connectors.gateway.app", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_until_up(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"gateway at {url} did not become ready")


async def run(args: argparse.Namespace, settings: HubSettings) -> dict[str, Any]:
    config = settings.config_dir
    directory = Directory.load(config)
    await create_topics(settings, all_topics([AGENCY]))
    registry = SchemaRegistry.load(settings.schemas_dir)
    codec = Codec(registry)
    token = next(
        line.split()[1]
        for line in (config / "dev-keys" / "gateway-tokens.txt").read_text().splitlines()
        if line.startswith(f"{AGENCY} ")
    )
    count = args.records
    events = referrals(count + WARMUP)
    json_bodies = [
        json.dumps(
            {"subject": "fr.nrm.ReferralOpened", "event": e.model_dump(mode="json")}
        ).encode()
        for e in events
    ]
    avro_bodies = [codec.encode_event(e) for e in events]
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    gateway = start_gateway(settings, port, args.log_level)
    results: dict[str, Any] = {}
    try:
        await wait_until_up(url)
        headers = {"Authorization": f"Bearer {token}"}
        connections = [
            KeepAliveConnection(LOOPBACK, port, headers) for _ in range(args.concurrency)
        ]
        free: asyncio.Queue[KeepAliveConnection] = asyncio.Queue()
        for connection in connections:
            free.put_nowait(connection)
        path = f"/v1/agencies/{AGENCY}/events"

        def gateway_send(bodies: list[bytes], media: str) -> Callable[[int], Awaitable[None]]:
            async def send(index: int) -> None:
                connection = await free.get()
                try:
                    status, answer = await connection.post(path, bodies[index], media)
                finally:
                    free.put_nowait(connection)
                if status != 202:
                    raise RuntimeError(f"{status}: {answer.decode(errors='replace')}")

            return send

        try:
            for name, bodies, media in (
                ("gateway_json", json_bodies, "application/json"),
                ("gateway_avro", avro_bodies, "application/vnd.nrm.avro"),
            ):
                await measure(gateway_send(bodies, media), WARMUP, args.concurrency)  # warm-up
                tail = gateway_send(bodies[WARMUP:], media)
                gateway_cpu, client_cpu = cpu_seconds(gateway.pid), time.process_time()
                results[name] = await measure(tail, count, args.concurrency)
                results[name]["gateway_cpu_ms_per_request"] = round(
                    (cpu_seconds(gateway.pid) - gateway_cpu) * 1000 / count, 3
                )
                results[name]["client_cpu_ms_per_request"] = round(
                    (time.process_time() - client_cpu) * 1000 / count, 3
                )
        finally:
            for connection in connections:
                await connection.close()

        agency = directory.get(AGENCY)
        assert agency is not None
        signer = RecordSigner.for_agency(agency, load_private_key(dev_key_path(config, AGENCY)))
        client = AgencyClient(settings, AGENCY, signer, codec, hub_public_key=None)
        await client.start()
        try:

            async def kafka_send(index: int) -> None:
                await client.publish(events[index])

            await measure(kafka_send, WARMUP, args.concurrency)

            async def kafka_tail(index: int) -> None:
                await client.publish(events[WARMUP + index])

            client_cpu = time.process_time()
            results["kafka_direct"] = await measure(kafka_tail, count, args.concurrency)
            results["kafka_direct"]["client_cpu_ms_per_request"] = round(
                (time.process_time() - client_cpu) * 1000 / count, 3
            )
        finally:
            await client.stop()
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(timeout=5)
    direct = results["kafka_direct"]["requests_per_s"]
    return {
        "benchmark": "gateway",
        "records_per_way": count,
        "concurrency": args.concurrency,
        "gateway_log_level": args.log_level,
        **results,
        "gateway_json_vs_kafka_rate": round(results["gateway_json"]["requests_per_s"] / direct, 3),
        "gateway_avro_vs_kafka_rate": round(results["gateway_avro"]["requests_per_s"] / direct, 3),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds, in all")
    parser.add_argument("--log-level", default="INFO", help="the gateway's HUB_LOG_LEVEL")
    args = parser.parse_args()
    configure_logging(level="WARNING")  # stdout is for the JSON report only
    with EmbeddedBroker() as broker:
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers)
        report = asyncio.run(asyncio.wait_for(run(args, settings), args.timeout))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
