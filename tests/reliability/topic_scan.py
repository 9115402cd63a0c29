"""Read whole topics with a plain consumer (no group): what is really on the broker.

Clients de-duplicate by event id; these counts show what they had to absorb (duplicate
records under at-least-once) and what the hub wrote (dead letters by source offset).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from hub.codec import Codec
from hub.kafka_options import client_options
from hub.settings import HubSettings

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


async def read_topics(
    settings: HubSettings, topics: Iterable[str], timeout_s: float = 60.0
) -> list[Record]:
    """Every record of ``topics``, from the beginning to the high watermark of each partition
    (the fetch response's, not ListOffsets': the embedded broker answers that wrongly)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **client_options(settings))
    await consumer.start()
    records: list[Record] = []
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = set(partitions)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=300)
            for found in batch.values():
                records += found
            for tp in list(pending):
                highwater = consumer.highwater(tp)
                if highwater is not None and await consumer.position(tp) >= highwater:
                    pending.discard(tp)
        if pending:
            raise TimeoutError(f"not read to their end in {timeout_s}s: {sorted(pending)}")
    finally:
        await consumer.stop()
    return records


def event_ids(records: Iterable[Record], codec: Codec) -> Counter[tuple[str, uuid.UUID]]:
    """How many records of each (topic, envelope event id)."""
    counts: Counter[tuple[str, uuid.UUID]] = Counter()
    for record in records:
        event = codec.decode_event(record.value or b"")
        envelope = getattr(event, "envelope", None)
        if envelope is not None:
            counts[(record.topic, envelope.event_id)] += 1
    return counts


def duplicate_records(counts: Counter[tuple[str, uuid.UUID]]) -> int:
    """Records beyond the first of each (topic, event id): what clients must drop."""
    return sum(n - 1 for n in counts.values() if n > 1)
