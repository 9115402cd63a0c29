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

    .venv/bin/python bench/pipeline.py [--records 20000] [--rate 200] [--seconds 10] [--repeat 1]

``--repeat N`` plays the chosen scenarios N times, in turn (hub and Faust alternate, each ratio
is of one round), and prints every round and, per figure, its median and range: on a shared or
drifting machine one run says little (docs/BENCHMARKS.md, issue 24, session 9).
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency import latency, latency_floor  # noqa: E402
from bench.story import (  # noqa: E402
    RECIPIENT,
    SENDER,
    STORY_READS,
    STORY_WRITES,
    hub_topics,
    publish,
    story,
    writes_for,
)
from bench.worker_process import Drain, count_until, hub_worker  # noqa: E402
from hub.contracts.codec import Codec  # noqa: E402
from hub.contracts.registry import SchemaRegistry  # noqa: E402
from hub.contracts.topics import TopicSpec, inbox_topic, outbox_topic  # noqa: E402
from hub.runtime.broker import EmbeddedBroker  # noqa: E402
from hub.runtime.kafka_options import client_options  # noqa: E402
from hub.runtime.logs import configure_logging  # noqa: E402
from hub.runtime.settings import PROJECT_ROOT, HubSettings, get_settings  # noqa: E402
from hub.runtime.topic_admin import create_topics  # noqa: E402

TIMEOUT_S = 300.0


@contextmanager
def broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded broker for one scenario."""
    with EmbeddedBroker() as running:
        yield running


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


async def hub_pipeline(records: int, *, verify: bool, per_case: int = 1) -> dict[str, Any]:
    """The hub worker draining a backlog of signed referrals."""
    with broker() as running:
        settings = get_settings().model_copy(
            update={"bootstrap_servers": running.bootstrap_servers}
        )
        codec, signer = await hub_topics(settings)
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


MAX_REPEAT = 20


def spread(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the rounds have in common (per scenario, and the ratios) as its median,
    lowest, highest and every value in round order."""
    found: dict[str, dict[str, list[float]]] = {}
    for one in rounds:
        for section, figures in one.items():
            if not isinstance(figures, dict):
                continue
            for name, value in figures.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    found.setdefault(section, {}).setdefault(name, []).append(value)
    return {
        section: {
            name: {
                "median": round(statistics.median(values), 4),  # no float noise in the JSON
                "min": min(values),
                "max": max(values),
                "each": values,
            }
            for name, values in figures.items()
            if len(values) == len(rounds)
        }
        for section, figures in found.items()
    }


def with_ratios(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the ratios of its scenarios to the ceiling and of the hub to Faust."""
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
    return result


SCENARIOS = (
    "ceiling",
    "faust",
    "hub",
    "hub_unsigned",
    "hub_10_per_case",
    "latency",
    "latency_floor",
)


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
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help=f"rounds of the chosen scenarios, in turn (1..{MAX_REPEAT}); medians are printed",
    )
    args = parser.parse_args()
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must be in 1..{MAX_REPEAT}")
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
        "latency_floor": lambda: latency_floor(args.rate, args.seconds, args.fetch_wait_ms),
    }
    rounds: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        rounds.append(with_ratios({name: await runs[name]() for name in chosen}))
    result: dict[str, Any] = {
        "benchmark": "pipeline",
        "ceiling_and_faust_per_referral": {"reads": STORY_READS, "writes": STORY_WRITES},
    }
    if args.repeat == 1:
        result.update(rounds[0])
    else:
        result.update(repeat=args.repeat, rounds=rounds, spread=spread(rounds))
    result["goal"] = {"hub_vs_faust": 1.0, "hub_unsigned_vs_ceiling": 0.25, "p99_ms": 50}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
