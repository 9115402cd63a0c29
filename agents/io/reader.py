"""Read whole topics once, for operators' tools and exports (never on the routing path).

"Up to the end" is the fetch response's high watermark, never ``end_offsets()``: the embedded
broker answers ``ListOffsets`` wrongly after batched produces (docs/BROKER.md). A reader may
also stop each partition earlier, at a limit it is given (an export reads an agency outbox
only up to what the router has committed). No consumer group is joined.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from aiokafka import ConsumerRecord, TopicPartition

from agents.io import clients
from agents.io.fetch_pacer import FetchPacer
from hub.runtime.settings import HubSettings

READ_TIMEOUT_S = 60.0


class TopicReadError(TimeoutError):
    """A topic could not be read to its end in time (the broker is down or very slow)."""


async def topics_with_prefix(settings: HubSettings, prefix: str) -> dict[str, int]:
    """Every topic on the broker whose name starts with ``prefix`` (runtime agencies too),
    with its partition count."""
    consumer = clients.assigned_consumer(settings)
    await consumer.start()
    try:
        names = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        return {t: len(consumer.partitions_for_topic(t) or ()) for t in names}
    finally:
        await consumer.stop()


async def committed_offsets(
    settings: HubSettings, group_id: str, topics: Mapping[str, int]
) -> dict[TopicPartition, int]:
    """The offsets ``group_id`` has committed on ``topics`` (name → partition count);
    partitions without one are 0. Reads them as a manually assigned member (no join): the
    admin client's OffsetFetch does not decode the embedded broker's answer."""
    tps = [TopicPartition(t, p) for t, count in sorted(topics.items()) for p in range(count)]
    consumer = clients.assigned_consumer(settings, group_id=group_id)
    await consumer.start()
    try:
        consumer.assign(tps)
        return {tp: await consumer.committed(tp) or 0 for tp in tps}
    finally:
        await consumer.stop()


async def read_topics(
    settings: HubSettings,
    topics: Iterable[str],
    *,
    stop_at: Mapping[TopicPartition, int] | None = None,
    timeout_s: float = READ_TIMEOUT_S,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from the beginning, up to each partition's high watermark —
    or, when ``stop_at`` is given, up to its offset there (a partition absent from it is not
    read at all)."""
    consumer = clients.assigned_consumer(settings, fetch_max_wait_ms=settings.fetch_max_wait_ms)
    await consumer.start()
    pacer = FetchPacer(settings.fetch_max_wait_ms)
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.topics()
        tps = [
            TopicPartition(topic, p)
            for topic in sorted(set(topics))
            for p in sorted(consumer.partitions_for_topic(topic) or set())
            if stop_at is None or stop_at.get(TopicPartition(topic, p), 0) > 0
        ]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        pending = set(tps)
        while pending:
            if time.monotonic() > deadline:
                raise TopicReadError(
                    f"{len(pending)} partitions not read to their end in {timeout_s:.0f}s"
                )
            batch = await consumer.getmany(*pending, timeout_ms=200)
            await pacer.after_fetch(consumer, sum(map(len, batch.values())))
            for tp, records in batch.items():
                limit = stop_at.get(tp) if stop_at is not None else None
                found.extend(r for r in records if limit is None or r.offset < limit)
            for tp in list(pending):
                end = consumer.highwater(tp)
                if stop_at is not None:
                    end = stop_at[tp] if end is None else min(end, stop_at[tp])
                if end is not None and await consumer.position(tp) >= end:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return found
