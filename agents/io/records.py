"""Records as aiokafka reads them, turned into the hub's own ``RawRecord`` value."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from hub.flow.ingest import RawRecord


def raw_record(record: ConsumerRecord[bytes, bytes], partitions: int) -> RawRecord:
    """A record read by an aiokafka consumer, from a topic of ``partitions`` partitions."""
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        timestamp_ms=record.timestamp,
        headers=tuple(record.headers),
        partitions=partitions,
    )
