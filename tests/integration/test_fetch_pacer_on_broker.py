"""The fetch pacer on the real embedded broker (defect 10).

Tansu answers a fetch with what its storage read before the fetch wait ran out. On ``s3://``
storage reads grow slower than a 50 ms wait; a wait of 0 ms starves the same way on memory
storage, every time, which makes the failure reproducible here in seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventually import consistently, eventually

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


@asynccontextmanager
async def reading_from_start(
    settings: HubSettings, tps: list[TopicPartition]
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer whose fetch wait is 0 ms, at the start of ``tps``."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, fetch_max_wait_ms=0, **client_options(settings)
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        yield consumer
    finally:
        await consumer.stop()


async def fetch(consumer: AIOKafkaConsumer, pacer: FetchPacer | None) -> int:
    """One fetch, shown to the pacer if there is one; how many records it brought."""
    batch = await consumer.getmany(timeout_ms=100)
    got = sum(map(len, batch.values()))
    if pacer is not None:
        await pacer.after_fetch(consumer, got)
    return got


# A fetch every ~0.1 s (the getmany wait above, and a pause of at most PAUSE_S): the pacer
# under test sees about as many fetches as a consumer loop would show it.
PAUSE_S = 0.01


async def test_a_consumer_whose_wait_is_shorter_than_a_read_starves(
    settings: HubSettings,
) -> None:
    # The control: without the pacer nothing is read, while the broker says records wait.
    tps = await filled_topic(settings)
    read_count = 0
    async with reading_from_start(settings, tps) as consumer:

        async def nothing_read() -> bool:
            nonlocal read_count
            read_count += await fetch(consumer, None)
            return read_count == 0

        await consistently(
            nothing_read,
            for_s=3,
            interval_s=PAUSE_S,
            max_interval_s=PAUSE_S,
            what="a consumer with a 0 ms wait reading nothing",
        )
        waiting = await backlog(consumer)
    assert read_count == 0
    assert waiting == RECORDS


async def test_the_pacer_raises_the_wait_and_the_consumer_reads_everything(
    settings: HubSettings,
) -> None:
    tps = await filled_topic(settings)
    pacer = FetchPacer(0)
    read_count = 0
    async with reading_from_start(settings, tps) as consumer:

        async def everything_read() -> bool:
            nonlocal read_count
            read_count += await fetch(consumer, pacer)
            return read_count >= RECORDS

        await eventually(
            everything_read,
            timeout_s=20,
            interval_s=PAUSE_S,
            max_interval_s=PAUSE_S,
            what=f"all {RECORDS} records read",
        )
        waiting = await backlog(consumer)
    assert read_count == RECORDS
    assert waiting == 0
    assert pacer.raised == 1
    assert pacer.wait_ms == 100
