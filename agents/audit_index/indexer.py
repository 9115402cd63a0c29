"""The audit indexer: keeps the case index current by reading ``nrm.audit`` to its high
watermark with a plain aiokafka consumer.

No Faust: its table recovery reads up to ``end_offsets()``, which the embedded broker answers
wrongly after batched produces (docs/BROKER.md). No consumer group: the index's progress
table is the committed offset, and there is no group join to wait for.

Run it: ``python -m agents.audit_index`` (until SIGTERM), or ``hub audit index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from agents.audit_index.store import AuditIndex, index_row
from agents.io.audit_fetch import (
    AuditLogUnavailable,
    audit_consumer,
    audit_partitions,
    read_to_high_watermark,
)
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up pass did."""

    indexed: int
    complete: bool
    high_watermarks: dict[int, int]


async def catch_up(
    settings: HubSettings, index: AuditIndex, codec: Codec, *, timeout_s: float = 30.0
) -> CatchUp:
    """Index every record of the topic not indexed yet, up to the high watermark."""
    consumer = audit_consumer(settings)
    indexed = 0

    def on_batch(batch: Mapping[TopicPartition, list[Any]], progress: dict[int, int]) -> None:
        nonlocal indexed
        rows = [
            index_row(codec, tp.partition, r.offset, r.key, r.value)
            for tp, records in batch.items()
            for r in records
        ]
        if rows:
            index.record(rows, progress)
            indexed += len(rows)

    try:
        await consumer.start()
        tps = await audit_partitions(consumer, index.topic)
        done = index.progress()
        starts = {tp: done.get(tp.partition, 0) for tp in tps}
        complete, watermarks = await read_to_high_watermark(
            consumer, starts, time.monotonic() + timeout_s, on_batch
        )
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {index.topic}: {exc}") from exc
    finally:
        await consumer.stop()
    log.info("audit_index.caught_up", topic=index.topic, indexed=indexed, complete=complete)
    return CatchUp(indexed, complete, watermarks)


async def run_indexer(
    settings: HubSettings,
    index: AuditIndex,
    codec: Codec,
    stop: asyncio.Event,
    *,
    pass_timeout_s: float = 5.0,
    idle_s: float = 0.5,
) -> int:
    """Keep the index current until ``stop`` is set; return how many records were indexed.

    Each pass is bounded (``pass_timeout_s``) and so is each pause between passes.
    """
    total = 0
    while not stop.is_set():
        try:
            total += (await catch_up(settings, index, codec, timeout_s=pass_timeout_s)).indexed
        except AuditLogUnavailable as exc:
            log.warning("audit_index.unavailable", topic=index.topic, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=idle_s)
    return total


async def _serve(settings: HubSettings) -> int:
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with AuditIndex.open(settings) as index:
        log.info("audit_index.started", path=str(index.path), topic=index.topic)
        total = await run_indexer(settings, index, codec, stop)
    log.info("audit_index.stopped", indexed=total)
    return 0


def main() -> None:
    """Run the indexer until SIGTERM or Ctrl-C."""
    settings = get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    raise SystemExit(asyncio.run(_serve(settings)))


if __name__ == "__main__":
    main()
