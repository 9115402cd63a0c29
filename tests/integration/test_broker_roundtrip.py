"""Framed Avro through the real embedded broker, with a consumer group and committed offsets."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventually import eventually

from hub.contracts.codec import Codec
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import TopicSpec
from hub.runtime.kafka_options import client_options, consumer_group_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


async def consume(consumer: AIOKafkaConsumer, count: int, timeout_s: float = 20.0) -> list[bytes]:
    """Read ``count`` values, bounded in time."""
    values: list[bytes] = []

    async def read_more() -> bool:
        batch = await consumer.getmany(timeout_ms=100)
        values.extend(record.value for records in batch.values() for record in records)
        assert len(values) >= count, f"{len(values)} read so far"
        return True

    await eventually(read_more, timeout_s=timeout_s, max_interval_s=0.2, what=f"{count} values")
    return values


async def test_framed_events_round_trip_through_a_consumer_group(
    settings: HubSettings, registry: SchemaRegistry
) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    await create_topics(settings, [TopicSpec(name=topic, partitions=4, purpose="test")])
    codec = Codec(registry)
    events = [event for _agency, event in example_events()]
    group = f"g-{topic}"

    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for event in events:
            key = str(event.envelope.case_id).encode() if hasattr(event, "envelope") else None
            await producer.send_and_wait(topic, codec.encode_event(event), key=key)

        first = AIOKafkaConsumer(
            topic,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(settings),
            **consumer_group_options(settings),
        )
        await first.start()
        try:
            received = await consume(first, len(events))
            await first.commit()
            committed = {
                tp: await first.committed(tp) for tp in (TopicPartition(topic, p) for p in range(4))
            }
        finally:
            await first.stop()
        decoded = [codec.decode_event(value) for value in received]
        assert sorted(map(repr, decoded)) == sorted(map(repr, events))
        assert sum(offset or 0 for offset in committed.values()) == len(events)

        first_event = events[0]
        late = first_event.model_copy(
            update={"envelope": first_event.envelope.model_copy(update={"event_id": uuid.uuid4()})}
        )
        await producer.send_and_wait(topic, codec.encode_event(late))
        second = AIOKafkaConsumer(
            topic,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(settings),
            **consumer_group_options(settings),
        )
        await second.start()
        try:
            resumed = await consume(second, 1, timeout_s=10.0)
        finally:
            await second.stop()
        assert [codec.decode_event(value) for value in resumed] == [late]
    finally:
        await producer.stop()
