"""The fetch pacer on the real embedded broker (defect 10).

Tansu answers a fetch with what its storage read before the fetch wait ran out. On ``s3://``
storage reads grow slower than a 50 ms wait; a wait of 0 ms starves the same way on memory
storage, every time, which makes the failure reproducible here in seconds.
"""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.io.fetch_pacer import FetchPacer, backlog
from hub.contracts.topics import TopicSpec
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

RECORDS = 200


async def filled_topic(settings: HubSettings) -> list[TopicPartition]:
    topic = f"test.pacer.{uuid.uuid4().hex[:8]}"
    await create_topics(settings, [TopicSpec(name=topic, partitions=4, purpose="test")])
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for i in range(RECORDS):
            await producer.send_and_wait(topic, b"x" * 100, partition=i % 4)
    finally:
        await producer.stop()
    return [TopicPartition(topic, p) for p in range(4)]


async def read(
    settings: HubSettings, tps: list[TopicPartition], pacer: FetchPacer | None, seconds: float
) -> tuple[int, int]:
    """Records read from the start within ``seconds`` by a consumer whose wait is 0 ms, and
    the backlog the fetch responses reported at the end."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, fetch_max_wait_ms=0, **client_options(settings)
    )
    await consumer.start()
    read = 0
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + seconds
        while read < RECORDS and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            got = sum(map(len, batch.values()))
            read += got
            if pacer is not None:
                await pacer.after_fetch(consumer, got)
        return read, await backlog(consumer)
    finally:
        await consumer.stop()


async def test_a_consumer_whose_wait_is_shorter_than_a_read_starves(
    settings: HubSettings,
) -> None:
    # The control: without the pacer nothing is read, while the broker says records wait.
    tps = await filled_topic(settings)
    read_count, waiting = await read(settings, tps, None, seconds=3)
    assert read_count == 0
    assert waiting == RECORDS


async def test_the_pacer_raises_the_wait_and_the_consumer_reads_everything(
    settings: HubSettings,
) -> None:
    tps = await filled_topic(settings)
    pacer = FetchPacer(0)
    read_count, waiting = await read(settings, tps, pacer, seconds=20)
    assert read_count == RECORDS
    assert waiting == 0
    assert pacer.raised == 1
    assert pacer.wait_ms == 100
