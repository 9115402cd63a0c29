"""The worker's writer sends each partition's held records as producer batches
(``send_batch``): on the real broker every record lands where ``send()`` would have put it
(same partition for the same case key, whichever writer wrote it), in the order written,
with its headers, and a record larger than a batch still goes out."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.io import clients
from agents.io.outbox_writer import OutboxWriter
from hub.audit.keys import MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import TopicSpec
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics

PARTITIONS = 4


async def _read_all(
    settings: HubSettings, topic: str, count: int
) -> dict[bytes, list[tuple[int, bytes]]]:
    """Every record of ``topic`` by key: (partition, value), in offset order per partition."""
    consumer = AIOKafkaConsumer(
        topic, auto_offset_reset="earliest", enable_auto_commit=False, **client_options(settings)
    )
    await consumer.start()
    seen: dict[bytes, list[tuple[int, bytes]]] = {}
    got = 0
    try:
        for _ in range(200):  # bounded: 200 polls of at most 100 ms
            batch = await consumer.getmany(timeout_ms=100)
            for tp, records in sorted(batch.items(), key=lambda item: item[0].partition):
                for record in records:
                    assert record.key is not None
                    seen.setdefault(record.key, []).append((tp.partition, record.value))
                    got += 1
            if got >= count:
                break
    finally:
        await consumer.stop()
    assert got == count, f"{got} of {count} records read"
    return seen


async def test_held_records_land_where_send_would_put_them_in_order(
    settings: HubSettings, registry: SchemaRegistry
) -> None:
    batched, plain = (f"test.batched.{name}.{uuid.uuid4().hex[:8]}" for name in ("a", "b"))
    await create_topics(
        settings,
        [TopicSpec(name=t, partitions=PARTITIONS, purpose="test") for t in (batched, plain)],
    )
    cases = [str(uuid.uuid4()).encode() for _ in range(40)]
    writes = [(case, f"{case.decode()} #{n}".encode()) for n in range(3) for case in cases]
    large = (cases[0], b"x" * 40_000)  # over aiokafka's default 16 KiB batch

    producer = clients.producer(settings, linger_ms=5)
    await producer.start()
    try:
        writer = OutboxWriter(producer, Codec(registry), MemoryKeyStore(), hold=True)
        placeholders = [await writer.send(batched, value, key=key) for key, value in writes]
        placeholders.append(await writer.send(batched, large[1], key=large[0]))
        assert not any(p.done() for p in placeholders)
        await writer.release()
        for placeholder in placeholders:
            await placeholder  # each settles from its batch's acknowledgement

        reference = AIOKafkaProducer(**client_options(settings))
        await reference.start()
        try:
            for case in cases:
                await reference.send_and_wait(plain, b"reference", key=case)
        finally:
            await reference.stop()
    finally:
        await producer.stop()

    got = await _read_all(settings, batched, len(writes) + 1)
    where_send_puts = {k: v[0][0] for k, v in (await _read_all(settings, plain, 40)).items()}
    for case in cases:
        partitions = {partition for partition, _ in got[case]}
        assert partitions == {where_send_puts[case]}
        expected = [value for key, value in writes if key == case]
        expected += [large[1]] if case == large[0] else []
        assert [value for _, value in got[case]] == expected
    assert len({where_send_puts[c] for c in cases}) == PARTITIONS  # the test spread them
