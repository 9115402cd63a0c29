"""Soak: a paced load through the whole pipeline for minutes; is anything creeping?

A `hub worker` process (signatures, consent, projections, deadlines, audit, case states: the
whole pipeline) on its own embedded broker. ``--rate`` events per second enter the hub, half
of them requests and half answers: police-93 publishes permit requests at rate/2 over a
population of ``--cases`` cases (each case gets a new request in turn, as a case does over
its life); prefecture-93 reads them through the agency client and answers each with its
decision (a COMPLETED acknowledgement: it closes the request and its deadline, and is routed
back to police-93; ACCEPTED alone would leave the request open for a decision).
The warm-up lasts until every case exists. Per window: requests delivered,
end-to-end latency (publish → the client holds the verified, de-duplicated message) p50/p99/
max, the worker's resident memory (/proc/<pid>/status VmRSS) and the backlog. Flat means no
leak and no creeping lag: the last window's RSS and p99 close to the first after warm-up.
The latency is split at the moment the hub signed the delivery (its ``nrm-ts`` header, wall
clock): ``to_hub`` is publish → outbox fetch → the worker's decision, ``from_hub`` is the
hub's write → inbox fetch → the client; a creep in both legs alike points at the broker.
Each window also reports the cores busy in the worker, the broker and this process (the load
and both clients), from /proc/<pid>/stat: a creep while the worker's CPU per event stays flat
is time spent waiting, not working.

    .venv/bin/python bench/soak.py                       # 500 events/s for 10 minutes
    .venv/bin/python bench/soak.py --rate 100 --seconds 30 --window 10

Prints one JSON document. The broker keeps everything in memory and grows with the run; its
RSS is reported too, but only the worker's must stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.client import AgencyClient  # noqa: E402
from connectors.client.dev import dev_client  # noqa: E402
from hub.contracts.codec import Codec  # noqa: E402
from hub.contracts.enums import AckStatus  # noqa: E402
from hub.contracts.envelope import Envelope  # noqa: E402
from hub.contracts.events import Acknowledgement, PermitRequested  # noqa: E402
from hub.contracts.examples import example_events, permit_choice, permit_consent  # noqa: E402
from hub.contracts.registry import SchemaRegistry  # noqa: E402
from hub.contracts.topics import all_topics  # noqa: E402
from hub.rules.directory import Directory  # noqa: E402
from hub.runtime.broker import EmbeddedBroker, free_port  # noqa: E402
from hub.runtime.logs import configure_logging  # noqa: E402
from hub.runtime.settings import HubSettings  # noqa: E402
from hub.runtime.topic_admin import create_topics  # noqa: E402
from hub.trust.signing import TIMESTAMP_HEADER  # noqa: E402

HUB = str(Path(sys.executable).parent / "hub")
WARM_UP_WINDOWS = 1
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 60.0


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time ``pid`` has used so far (Linux), 0 once it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    """One window of the run."""

    index: int
    latencies: list[float] = field(default_factory=list)
    to_hub: list[float] = field(default_factory=list)
    from_hub: list[float] = field(default_factory=list)
    worker_rss_kib: int = 0
    broker_rss_kib: int = 0
    published: int = 0
    backlog: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core, by process
    loop: dict[str, float] = field(default_factory=dict)  # the worker's loop, by phase

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def quantile(q: float, values: list[float] = ordered) -> float | None:
            if not values:
                return None
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)

        to_hub, from_hub = sorted(self.to_hub), sorted(self.from_hub)

        return {
            "window": self.index,
            "published": self.published,
            "delivered": len(ordered),
            "p50_ms": quantile(0.50),
            "p99_ms": quantile(0.99),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "to_hub_p50_ms": quantile(0.50, to_hub),
            "to_hub_p99_ms": quantile(0.99, to_hub),
            "from_hub_p50_ms": quantile(0.50, from_hub),
            "from_hub_p99_ms": quantile(0.99, from_hub),
            "worker_rss_mib": round(self.worker_rss_kib / 1024, 1),
            "broker_rss_mib": round(self.broker_rss_kib / 1024, 1),
            "backlog": self.backlog,
            "cpu_cores": self.cpu,
            "worker_loop": self.loop,
        }


WORKERS = {
    # what runs between the outboxes and the inboxes, and the log line that says it is ready
    "hub": ([HUB, "worker"], '"router.assigned"'),
    "raw": ([sys.executable, str(ROOT / "bench" / "raw_forward.py")], '"raw_forward.assigned"'),
}


def client(
    settings: HubSettings, agency_id: str, registry: SchemaRegistry, *, verify: bool = True
) -> AgencyClient:
    made = dev_client(
        settings, agency_id, codec=Codec(registry), group_id=f"soak-{agency_id}-{uuid.uuid4()}"
    )
    if not verify:  # the raw forwarder passes the agency's record on: nothing the hub signed
        made.hub_public_key = None
    return made


async def soak(
    rate: int, seconds: float, window_s: float, cases: int, workdir: Path, worker_kind: str = "hub"
) -> dict[str, Any]:
    broker = EmbeddedBroker(log_path=workdir / "tansu.log").start()
    worker: subprocess.Popen[bytes] | None = None
    clients: list[AgencyClient] = []
    windows: list[Window] = []
    sent: dict[uuid.UUID, float] = {}  # request id → when it was published
    delivered: set[uuid.UUID] = set()
    population = [uuid.uuid4() for _ in range(cases)]
    answers = 0
    try:
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers, data_dir=workdir)
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        metrics_port = free_port()
        env = {
            **os.environ,
            "HUB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "HUB_DATA_DIR": str(workdir),
            "HUB_LOG_JSON": "true",
            "HUB_HEALTH_PORT": str(metrics_port),
        }
        command, ready_line = WORKERS[worker_kind]
        worker = _start_worker(command, env, workdir / "worker.log")
        phases = (
            WorkerPhases(f"http://127.0.0.1:{metrics_port}/metrics")
            if worker_kind == "hub"
            else None
        )
        registry = SchemaRegistry.load(settings.schemas_dir)
        police, prefecture = (
            client(settings, "police-93", registry, verify=worker_kind == "hub"),
            client(settings, "prefecture-93", registry, verify=worker_kind == "hub"),
        )
        for each in (police, prefecture):
            await each.start()
            clients.append(each)
        await _wait_ready(workdir / "worker.log", ready_line)
        template = next(e for _s, e in example_events() if isinstance(e, PermitRequested))
        # The person's consent for every case first: without it the hub holds the requests;
        # and her choice, in order: without it the hub refuses them (R425-2). She lives in
        # Paris: the request her choice raises goes to prefecture-75, outside what is counted.

        async def chosen(case_id: uuid.UUID) -> None:
            at = datetime.now(UTC)
            for record in (permit_consent(case_id, at), *permit_choice(case_id, at, "75")):
                await police.publish(record)

        await asyncio.gather(*(chosen(c) for c in population))
        stop = asyncio.Event()
        current = Window(0)
        windows.append(current)
        meter = CpuMeter({"worker": worker.pid, "broker": broker.pid, "load": os.getpid()})
        if phases is not None:
            await phases.window()

        async def read() -> None:
            nonlocal answers
            while not stop.is_set() or len(delivered) < len(sent):
                acks = []
                for message in await prefecture.receive(expected=1, timeout_s=0.2):
                    request = message.event
                    if not isinstance(request, PermitRequested):
                        continue
                    if request.request_id in sent and request.request_id not in delivered:
                        delivered.add(request.request_id)
                        now = time.time()
                        signed = int(message.headers[TIMESTAMP_HEADER]) / 1000
                        windows[-1].latencies.append(now - sent[request.request_id])
                        windows[-1].to_hub.append(signed - sent[request.request_id])
                        windows[-1].from_hub.append(now - signed)
                        ack = Acknowledgement(
                            envelope=Envelope(
                                event_id=uuid.uuid4(),
                                case_id=request.envelope.case_id,
                                occurred_at=datetime.now(UTC),
                            ),
                            request_id=request.request_id,
                            status=AckStatus.COMPLETED,
                        )
                        acks.append(prefecture.publish(ack))
                if acks:
                    await asyncio.gather(*acks)
                    answers += len(acks)
                if stop.is_set() and time.monotonic() > drain_deadline:
                    return

        drain_deadline = float("inf")
        reader = asyncio.create_task(read())
        started = time.monotonic()
        next_window = started + window_s
        index = 0
        tick = 0.02
        while time.monotonic() - started < seconds:
            due = int((time.monotonic() - started) * rate / 2) - index
            batch = []
            for _ in range(max(0, due)):
                case_id = population[index % cases]
                now = datetime.now(UTC)
                request_id = uuid.uuid4()
                envelope = Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=now)
                event = template.model_copy(update={"envelope": envelope, "request_id": request_id})
                sent[request_id] = time.time()
                batch.append(police.publish(event))
                index += 1
            if batch:
                await asyncio.gather(*batch)
                current.published += len(batch)
            if time.monotonic() >= next_window:
                await _close(
                    current, worker.pid, broker.pid, len(sent) - len(delivered), meter, phases
                )
                current = Window(len(windows))
                windows.append(current)
                next_window += window_s
            await asyncio.sleep(tick)
        await _close(current, worker.pid, broker.pid, len(sent) - len(delivered), meter, phases)
        drain_deadline = time.monotonic() + DRAIN_TIMEOUT_S
        stop.set()
        await asyncio.wait_for(reader, DRAIN_TIMEOUT_S + 10)
        duration = time.monotonic() - started
    finally:
        for each in clients:
            await each.stop()
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        broker.stop()
    result = _result(rate, seconds, window_s, cases, windows, sent, delivered, duration)
    result["answers_published"] = answers
    return result


def _start_worker(
    command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def _says(log_path: Path, line: str) -> bool:
    return log_path.exists() and line in log_path.read_text(errors="replace")


async def _wait_ready(log_path: Path, ready_line: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if _says(log_path, ready_line):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the worker never got its partitions")


class CpuMeter:
    """CPU used per window by the worker, the broker and this process (the load and the
    clients): a creep with flat worker CPU per event is waiting, not working."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._last = self._now()

    def _now(self) -> tuple[float, dict[str, float]]:
        return time.monotonic(), {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def window(self) -> dict[str, float]:
        """Cores busy per process since the last call."""
        (then, before), (now, after) = self._last, self._now()
        self._last = (now, after)
        span = max(1e-6, now - then)
        return {name: round((after[name] - before[name]) / span, 3) for name in after}


class WorkerPhases:
    """Where the worker's routing loop spent each window (its ``nrm_router_loop_seconds``):
    fetching, processing (deciding, then waiting for the writes' acknowledgements),
    committing, ticking — as a share of the window's wall time — and its batches."""

    def __init__(self, metrics_url: str) -> None:
        self.metrics_url = metrics_url
        self._last: tuple[float, dict[str, float]] | None = None

    async def _read(self) -> dict[str, float]:
        async with httpx.AsyncClient() as http:
            text = (await http.get(self.metrics_url, timeout=5.0)).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("nrm_router_loop_seconds_total{"):
                phase = line.split('phase="', 1)[1].split('"', 1)[0]
                values[phase] = float(line.rsplit(" ", 1)[1])
            elif line.startswith("nrm_router_batches_total "):
                values["batches"] = float(line.rsplit(" ", 1)[1])
        return values

    async def window(self) -> dict[str, float]:
        """Each phase's share of the time since the last call, and the batches done."""
        now, values = time.monotonic(), await self._read()
        last, self._last = self._last, (now, values)
        if last is None:
            return {}
        then, before = last
        span = max(1e-6, now - then)
        shares = {
            phase: round((values[phase] - before.get(phase, 0.0)) / span, 3)
            for phase in values
            if phase != "batches"
        }
        batches = values.get("batches", 0.0) - before.get("batches", 0.0)
        return {**shares, "batches": batches}


async def _close(
    window: Window,
    worker_pid: int,
    broker_pid: int | None,
    backlog: int,
    meter: CpuMeter,
    phases: WorkerPhases | None,
) -> None:
    window.worker_rss_kib = rss_kib(worker_pid)
    window.broker_rss_kib = rss_kib(broker_pid) if broker_pid else 0
    window.backlog = backlog
    window.cpu = meter.window()
    window.loop = await phases.window() if phases is not None else {}


def _result(
    rate: int,
    seconds: float,
    window_s: float,
    cases: int,
    windows: list[Window],
    sent: dict[uuid.UUID, float],
    delivered: set[uuid.UUID],
    duration: float,
) -> dict[str, Any]:
    rows = [w.summary() for w in windows if w.published or w.latencies]
    # Warm-up: until every case of the population exists (and at least one window).
    warm = max(WARM_UP_WINDOWS, math.ceil(cases / max(1, rate / 2) / window_s))
    steady = rows[warm:] if len(rows) > warm + 1 else rows[-2:]
    first, last = steady[0], steady[-1]
    p99s = [r["p99_ms"] for r in steady if r["p99_ms"] is not None]
    growth = last["worker_rss_mib"] / max(0.1, first["worker_rss_mib"])
    return {
        "rate_per_s": rate,
        "requests_per_s": rate / 2,
        "cases": cases,
        "seconds": seconds,
        "window_s": window_s,
        "sent": len(sent),
        "delivered": len(delivered),
        "undelivered_at_end": len(sent) - len(delivered),
        "achieved_requests_per_s": round(len(sent) / duration, 1),
        "windows": rows,
        "steady": {
            "first_window": first["window"],
            "last_window": last["window"],
            "worker_rss_growth": round(growth, 3),
            "p99_growth": round((last["p99_ms"] or 0) / max(0.1, first["p99_ms"] or 0.1), 3),
            "p99_median_ms": round(statistics.median(p99s), 1) if p99s else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=int, default=500, help="events per second into the hub (requests + answers)"
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=None, help="overrides --minutes")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--cases", type=int, default=None, help="default: one minute's worth")
    parser.add_argument(
        "--worker",
        choices=sorted(WORKERS),
        default="hub",
        help="raw: bench/raw_forward.py, the hub's I/O without the hub (is a creep the broker's?)",
    )
    args = parser.parse_args()
    configure_logging(level="WARNING")  # stdout is the JSON result only
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="nrm-soak-") as workdir:
        cases = args.cases or args.rate * 30  # a minute of requests
        result = asyncio.run(
            soak(args.rate, seconds, args.window, cases, Path(workdir), args.worker)
        )
        result["worker"] = args.worker
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
