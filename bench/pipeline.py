"""The hub pipeline against the raw broker ceiling, in the same run, on the same broker.

Scenarios (the embedded broker is restarted between them: it keeps everything in memory):

* ``ceiling``  plain aiokafka consume → produce → commit, in one process;
* ``faust``    a plain Faust agent forwarding bytes (bench/faust_forward.py);
* ``hub``      the hub worker (``hub worker``, its own process): each referral is the story
               the law asks for (CESEDA R425-2: the person's consent, the information on her
               rights, her recorded choice, then the police's PermitRequested), signed, from
               police-93's outbox → ingest (signature, Avro, model) → consent → router →
               the prefectures' inboxes, audit on, signatures on;
* ``hub_unsigned`` the same with signature verification off (benchmarks only);
* ``latency``  the hub at a paced rate: p50/p99 from publish to the recipient's inbox.

Like for like: the ceiling and Faust read the same records per referral (``STORY_READS``, the
story above, unsigned) and write as many records per referral as the hub does
(``STORY_WRITES``: two projections, twelve audit entries and one case-state changelog record),
spread evenly over what they read. The hub's scenarios print the worker's own count of what it
wrote, ``records_written_per_referral``, and ``like_for_like`` says whether it still matches.

    .venv/bin/python bench/pipeline.py [--records 20000] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.contracts.codec import Codec
from hub.contracts.events import PermitRequested
from hub.contracts.examples import example_events, permit_choice, permit_consent
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import TopicSpec, all_topics, inbox_topic, outbox_topic
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker, free_port
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.settings import PROJECT_ROOT, HubSettings, get_settings
from hub.runtime.topic_admin import create_topics
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

STORY_WRITES = 15
"""What the hub writes per new-case referral of the story, counted by the worker's
``nrm_router_events_out_total``: the récépissé request her choice raises (to prefecture-75)
and the police's own request (to prefecture-93), twelve audit entries (three per event read:
received, what it did, what it opened or routed) and the case-state changelog record."""
SENDER = "police-93"
RECIPIENT = "prefecture-93"
CHOICE_RECIPIENT = "prefecture-75"
"""Where the récépissé request each recorded choice raises goes (she lives in Paris)."""
TIMEOUT_S = 300.0


@contextmanager
def broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded broker for one scenario."""
    with EmbeddedBroker() as running:
        yield running


def permit_requests(count: int, per_case: int = 1) -> list[PermitRequested]:
    """``count`` permit requests, ``per_case`` of them for each case."""
    template = next(e for _s, e in example_events() if isinstance(e, PermitRequested))
    events = []
    case_id = uuid.uuid4()
    for index in range(count):
        if index % per_case == 0:
            case_id = uuid.uuid4()
        envelope = template.envelope.model_copy(
            update={"case_id": case_id, "event_id": uuid.uuid4(), "correlation_id": case_id}
        )
        events.append(
            template.model_copy(update={"envelope": envelope, "request_id": uuid.uuid4()})
        )
    return events


def with_consents(events: list[PermitRequested]) -> list[Any]:
    """``events``, each case's first request preceded by the person's consent for the
    prefecture (without it the hub holds the request: issue 20) and her recorded choice
    (without it the hub refuses it: CESEDA R425-2)."""
    out: list[Any] = []
    seen: set[uuid.UUID] = set()
    for event in events:
        if event.envelope.case_id not in seen:
            seen.add(event.envelope.case_id)
            out += before_request(event)
        out.append(event)
    return out


def before_request(event: PermitRequested) -> list[Any]:
    """The person's consent and recorded choice for ``event``'s case. She lives in Paris: the
    récépissé request her choice raises goes to ``CHOICE_RECIPIENT``, outside what is
    counted."""
    case_id, at = event.envelope.case_id, event.envelope.occurred_at
    return [permit_consent(case_id, at), *permit_choice(case_id, at, CHOICE_RECIPIENT[-2:])]


def story(records: int, per_case: int = 1) -> list[Any]:
    """``records`` referrals, each the story the hub is measured on, in order."""
    return with_consents(permit_requests(records, per_case))


STORY_READS = len(story(1))
"""Records read per new-case referral (the consent, the rights, the choice, the request)."""


def writes_for(read_index: int) -> int:
    """How many records the ceiling and Faust write for their ``read_index``-th read (from 0):
    ``STORY_WRITES`` per ``STORY_READS`` reads, spread evenly."""
    return ((read_index + 1) * STORY_WRITES) // STORY_READS - (
        read_index * STORY_WRITES
    ) // STORY_READS


async def publish(
    settings: HubSettings,
    codec: Codec,
    events: list[Any],
    topic: str,
    signer: RecordSigner | None,
) -> float:
    """Publish ``events`` as fast as possible; return the seconds it took."""
    producer = AIOKafkaProducer(linger_ms=5, **client_options(settings))
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for event in events:
            key = str(event.envelope.case_id).encode()
            value = codec.encode_event(event)
            headers = signer.sign(topic, key, value) if signer else []
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


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


async def bench_backlog(running: EmbeddedBroker, records: int) -> HubSettings:
    """``bench.in`` holding the story of ``records`` referrals, unsigned, and an empty
    ``bench.out``."""
    settings = HubSettings(bootstrap_servers=running.bootstrap_servers)
    await create_topics(
        settings,
        [TopicSpec(name="bench.in", purpose="bench"), TopicSpec(name="bench.out", purpose="bench")],
    )
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    await publish(settings, codec, story(records), "bench.in", None)
    return settings


async def ceiling(records: int) -> dict[str, Any]:
    """Plain aiokafka consume → produce (``writes_for`` each read) → commit, batch by batch."""
    with broker() as running:
        settings = await bench_backlog(running, records)
        consumer = AIOKafkaConsumer(
            "bench.in",
            group_id="bench-ceiling",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            **client_options(settings),
        )
        producer = AIOKafkaProducer(linger_ms=2, acks="all", **client_options(settings))
        await consumer.start()
        await producer.start()
        reads, started = 0, 0.0
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while reads < records * STORY_READS and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                futures = []
                for recs in batch.values():
                    for record in recs:
                        started = started or time.perf_counter()
                        for _ in range(writes_for(reads)):
                            futures.append(
                                await producer.send("bench.out", record.value, key=record.key)
                            )
                        reads += 1
                if futures:
                    await asyncio.gather(*futures)
                    await consumer.commit()
            elapsed = time.perf_counter() - started
        finally:
            await consumer.stop()
            await producer.stop()
    done = reads // STORY_READS
    return {"records": done, "seconds": round(elapsed, 3), "msgs_per_s": round(done / elapsed)}


async def faust_forward(records: int) -> dict[str, Any]:
    """A plain Faust agent forwarding bytes, ``writes_for`` each read."""
    with broker() as running:
        settings = await bench_backlog(running, records)
        with tempfile.TemporaryDirectory() as data_dir:
            env = {
                **os.environ,
                "BENCH_BROKER": running.bootstrap_servers,
                "BENCH_READS": str(STORY_READS),
                "BENCH_WRITES": str(STORY_WRITES),
                "PYTHONPATH": str(PROJECT_ROOT),
            }
            process = subprocess.Popen(  # noqa: ASYNC220 - a benchmark's own child
                [
                    sys.executable,
                    "-m",
                    "faust",
                    "--datadir",
                    data_dir,
                    "-A",
                    "bench.faust_forward",
                    "-l",
                    "warn",
                    "worker",
                    "--without-web",
                ],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                count, seconds = await count_until(
                    settings, "bench.out", records * STORY_WRITES, process
                )
            finally:
                process.terminate()
                process.wait(30)
    done = count // STORY_WRITES
    return {
        "records": done,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(done / seconds) if seconds else 0,
    }


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


async def hub_pipeline(records: int, *, verify: bool, per_case: int = 1) -> dict[str, Any]:
    """The hub worker draining a backlog of signed referrals."""
    with broker() as running:
        settings = get_settings().model_copy(
            update={"bootstrap_servers": running.bootstrap_servers}
        )
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        codec = Codec(SchemaRegistry.load(settings.schemas_dir))
        agency = directory.get(SENDER)
        assert agency is not None
        signer = RecordSigner.for_agency(
            agency, load_private_key(dev_key_path(settings.config_dir, SENDER))
        )
        await publish(
            settings,
            codec,
            story(records, per_case),
            outbox_topic(SENDER),
            signer,
        )
        drain = Drain()
        with hub_worker(settings, verify=verify) as worker:
            count, seconds = await count_until(
                settings, inbox_topic(RECIPIENT), records, worker.process, drain
            )
            written = await worker.records_written()
    return {
        "records": count,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds) if seconds else 0,
        # The worker's own CPU while it drained: steadier than msgs/s on a shared machine.
        "worker_cpu_ms_per_referral": round(1000 * drain.cpu_s / count, 3) if count else None,
        "records_written_per_referral": round(written / count, 2) if count else None,
        "like_for_like": per_case > 1 or written == count * STORY_WRITES,
        "signatures": "verified" if verify else "not verified (hub still signs)",
        "referrals_per_case": per_case,
    }


IDLE_S = 10.0
"""How long the latency scenario watches the worker and its own clients idle afterwards."""


async def latency(rate: int, seconds: int, fetch_wait_ms: int | None = None) -> dict[str, Any]:
    """Publish at ``rate``/s for ``seconds``; p50/p99 publish → recipient inbox, then the CPU
    the worker and this process's clients burn idle for ``IDLE_S`` (every consumer, the
    worker's and the inbox reader here, on ``fetch_wait_ms``: the setting's default if None)."""
    with broker() as running:
        settings = get_settings().model_copy(
            update={"bootstrap_servers": running.bootstrap_servers}
        )
        if fetch_wait_ms is not None:
            settings = settings.model_copy(update={"fetch_max_wait_ms": fetch_wait_ms})
        directory = Directory.load(settings.config_dir)
        await create_topics(settings, all_topics(a.id for a in directory))
        codec = Codec(SchemaRegistry.load(settings.schemas_dir))
        agency = directory.get(SENDER)
        assert agency is not None
        signer = RecordSigner.for_agency(
            agency, load_private_key(dev_key_path(settings.config_dir, SENDER))
        )
        events = permit_requests(rate * seconds)
        consents = [record for e in events for record in before_request(e)]
        await publish(settings, codec, consents, outbox_topic(SENDER), signer)
        sent: dict[str, float] = {}
        received: dict[str, float] = {}
        idle: dict[str, float] = {}
        with hub_worker(settings, verify=True) as worker:
            consumer = AIOKafkaConsumer(
                inbox_topic(RECIPIENT),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                # The hub's own wait: the default 500 ms is held in full by the embedded
                # broker and put ~250 ms of the benchmark's own on every measurement.
                fetch_max_wait_ms=settings.fetch_max_wait_ms,
                **client_options(settings),
            )
            producer = AIOKafkaProducer(linger_ms=0, **client_options(settings))
            await consumer.start()
            await producer.start()
            try:
                await warm_up(producer, consumer, codec, signer)
                # Every partition's backlog of stories drained (one récépissé request per
                # choice, the warm-up's included): otherwise the first paced requests wait
                # behind it and the figures measure the backlog, not the hub.
                await count_until(
                    settings, inbox_topic(CHOICE_RECIPIENT), len(events) + 1, worker.process
                )

                async def pace() -> None:
                    started = time.perf_counter()
                    for index, event in enumerate(events):
                        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                        topic = outbox_topic(SENDER)
                        key = str(event.envelope.case_id).encode()
                        value = codec.encode_event(event)
                        headers = signer.sign(topic, key, value)
                        sent[str(event.request_id)] = time.perf_counter()
                        await producer.send(topic, value, key=key, headers=headers)

                async def collect() -> None:
                    deadline = time.monotonic() + seconds + 60
                    while len(received) < len(events) and time.monotonic() < deadline:
                        batch = await consumer.getmany(timeout_ms=50)
                        now = time.perf_counter()
                        for recs in batch.values():
                            for record in recs:
                                request = codec.decode(record.value).record["request_id"]
                                received.setdefault(str(request), now)

                await asyncio.gather(pace(), collect())
                # Idle: the worker's fetch loop and this process's inbox reader keep polling.
                worker_before, mine_before = cpu_seconds(worker.process.pid), time.process_time()
                await idle_reader(consumer, IDLE_S)
                idle["worker"] = (cpu_seconds(worker.process.pid) - worker_before) / IDLE_S
                idle["client"] = (time.process_time() - mine_before) / IDLE_S
            finally:
                await producer.stop()
                await consumer.stop()
    delays = sorted((received[k] - sent[k]) * 1000 for k in received if k in sent)
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": len(sent),
        "received": len(delays),
        "p50_ms": round(statistics.median(delays), 2) if delays else None,
        "p99_ms": round(delays[int(len(delays) * 0.99) - 1], 2) if delays else None,
        "max_ms": round(delays[-1], 2) if delays else None,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "idle_cpu_cores": {name: round(value, 4) for name, value in idle.items()},
    }


async def idle_reader(consumer: AIOKafkaConsumer, seconds: float) -> None:
    """Keep polling the inbox for ``seconds``, as a recipient waiting for news would."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=50)


async def warm_up(
    producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, codec: Codec, signer: RecordSigner
) -> None:
    """Send one request and wait for it, so the worker's group join is not measured."""
    (event,) = permit_requests(1)
    topic = outbox_topic(SENDER)
    key = str(event.envelope.case_id).encode()
    for record in with_consents([event]):
        value = codec.encode_event(record)
        await producer.send_and_wait(topic, value, key=key, headers=signer.sign(topic, key, value))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200)
        if any(batch.values()):
            return


SCENARIOS = ("ceiling", "faust", "hub", "hub_unsigned", "hub_10_per_case", "latency")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--faust-records", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=None,
        help="fetch_max_wait_ms of every consumer in the latency scenario (default: settings)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="a comma-separated subset of: " + ", ".join(SCENARIOS),
    )
    args = parser.parse_args()
    configure_logging(level="WARNING")  # stdout is the JSON result only
    chosen = [name for name in args.scenarios.split(",") if name]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    runs = {
        "ceiling": lambda: ceiling(args.records),
        "faust": lambda: faust_forward(args.faust_records),
        "hub": lambda: hub_pipeline(args.records, verify=True),
        "hub_unsigned": lambda: hub_pipeline(args.records, verify=False),
        "hub_10_per_case": lambda: hub_pipeline(args.records, verify=True, per_case=10),
        "latency": lambda: latency(args.rate, args.seconds, args.fetch_wait_ms),
    }
    result: dict[str, Any] = {
        "benchmark": "pipeline",
        "ceiling_and_faust_per_referral": {"reads": STORY_READS, "writes": STORY_WRITES},
    }
    for name in chosen:
        result[name] = await runs[name]()
    if "ceiling" in result:
        top = result["ceiling"]["msgs_per_s"]
        result["ratio"] = {
            f"{name}_vs_ceiling": round(result[name]["msgs_per_s"] / top, 3)
            for name in ("hub", "hub_unsigned", "hub_10_per_case", "faust")
            if name in result
        }
        if "hub" in result and "faust" in result:
            result["ratio"]["hub_vs_faust"] = round(
                result["hub"]["msgs_per_s"] / max(1, result["faust"]["msgs_per_s"]), 2
            )
    result["goal"] = {"hub_vs_faust": 1.0, "hub_unsigned_vs_ceiling": 0.25, "p99_ms": 50}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
