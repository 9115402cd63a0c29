"""A ``hub worker`` in its own process, and what a benchmark reads of it: arrivals on a topic,
the worker's CPU over the drain, its own count of what it wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from hub.runtime.broker import free_port
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings

TIMEOUT_S = 300.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Drain:
    """What ``count_until`` saw: records, seconds and the producing process's CPU seconds
    between the first and the last arrival (start-up and idle waits left out)."""

    count: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0


async def count_until(
    settings: HubSettings,
    topic: str,
    expected: int,
    process: subprocess.Popen[bytes] | None = None,
    drain: Drain | None = None,
) -> tuple[int, float]:
    """Read ``topic`` until ``expected`` records arrived; return (count, seconds between the
    first and the last arrival). Gives up if ``process`` (the one producing them) exits;
    fills ``drain`` with the count, seconds and ``process``'s CPU over the same span."""
    consumer = AIOKafkaConsumer(
        topic, auto_offset_reset="earliest", enable_auto_commit=False, **client_options(settings)
    )
    await consumer.start()
    count, first, last = 0, 0.0, 0.0
    cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while count < expected and time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{process.args} exited with {process.returncode}")
            batch = await consumer.getmany(timeout_ms=200)
            got = sum(len(r) for r in batch.values())
            if got:
                now = time.perf_counter()
                cpu = cpu_seconds(process.pid) if process is not None else 0.0
                if not first:
                    first, cpu_first = now, cpu
                last, cpu_last = now, cpu
                count += got
    finally:
        await consumer.stop()
    if drain is not None:
        drain.count, drain.seconds, drain.cpu_s = count, last - first, cpu_last - cpu_first
    return count, last - first


@dataclass(frozen=True)
class HubWorker:
    """A running ``hub worker`` and where its metrics are served."""

    process: subprocess.Popen[bytes]
    metrics_url: str

    async def records_written(self) -> int:
        """Everything the worker wrote (projections, audit, hub events, dead letters, case
        states), from its own ``nrm_router_events_out_total``."""
        await asyncio.sleep(0.5)  # the last batch's writes are counted once acknowledged
        async with httpx.AsyncClient() as http:
            text = (await http.get(self.metrics_url)).text
        return round(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("nrm_router_events_out_total{")
            )
        )


@contextmanager
def hub_worker(settings: HubSettings, *, verify: bool) -> Iterator[HubWorker]:
    """``hub worker`` in its own process, its metrics on a free loopback port."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "HUB_DATA_DIR": data_dir,
            "HUB_VERIFY_SIGNATURES": str(verify).lower(),
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_HEALTH_PORT": str(port),
            "HUB_FETCH_MAX_WAIT_MS": str(settings.fetch_max_wait_ms),
        }
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "hub"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield HubWorker(process, f"http://127.0.0.1:{port}/metrics")
        finally:
            process.terminate()
            process.wait(30)
