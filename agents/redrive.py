"""Dead letters for operators: list them, and re-drive one after the cause is fixed.

A re-drive writes the dead letter itself to ``nrm.redrive``, keyed like the original record,
so the worker that owns the case handles it as the original record from its source outbox:
signature verified as at its first arrival, then ingest and routing as usual. A re-driven
record that fails again becomes a new dead letter; one that succeeds is routed once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.codec import Codec, CodecError
from hub.events import DeadLetter
from hub.kafka_options import client_options
from hub.registry import SchemaRegistry
from hub.settings import HubSettings
from hub.topics import DEAD_LETTERS, REDRIVE

READ_TIMEOUT_S = 60.0


class RedriveError(LookupError):
    """The dead letter cannot be re-driven (unknown id, already re-driven)."""


@dataclass(frozen=True)
class RedriveResult:
    """Where the re-drive was written."""

    dead_letter_id: uuid.UUID
    partition: int
    offset: int


async def read_topic(settings: HubSettings, topic: str, codec: Codec) -> list[object]:
    """Every decodable record of ``topic``, read up to the fetch high watermarks."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, fetch_max_wait_ms=50, **client_options(settings)
    )
    await consumer.start()
    found: list[object] = []
    try:
        await consumer.topics()
        tps = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())
        ]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        found.append(codec.decode_event(record.value or b""))
                    except CodecError:
                        continue
            done = []
            for tp in tps:
                highwater = consumer.highwater(tp)
                done.append(highwater is not None and await consumer.position(tp) >= highwater)
            if all(done):
                break
    finally:
        await consumer.stop()
    return found


def _codec(settings: HubSettings) -> Codec:
    return Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )


async def redriven_ids(settings: HubSettings) -> set[uuid.UUID]:
    """Ids of the dead letters already re-driven."""
    records = await read_topic(settings, REDRIVE.name, _codec(settings))
    return {r.dead_letter_id for r in records if isinstance(r, DeadLetter)}


async def list_dead_letters(
    settings: HubSettings, *, include_redriven: bool = False
) -> list[DeadLetter]:
    """Dead letters, oldest first (those already re-driven left out unless asked for)."""
    records = await read_topic(settings, DEAD_LETTERS.name, _codec(settings))
    letters = [r for r in records if isinstance(r, DeadLetter)]
    if not include_redriven:
        done = await redriven_ids(settings)
        letters = [d for d in letters if d.dead_letter_id not in done]
    unique = {d.dead_letter_id: d for d in letters}
    return sorted(unique.values(), key=lambda d: d.occurred_at)


async def redrive(settings: HubSettings, dead_letter_id: uuid.UUID) -> RedriveResult:
    """Re-inject one dead letter through ``nrm.redrive`` (RedriveError if it cannot be)."""
    codec = _codec(settings)
    letters = {
        d.dead_letter_id: d for d in await list_dead_letters(settings, include_redriven=True)
    }
    letter = letters.get(dead_letter_id)
    if letter is None:
        raise RedriveError(f"no dead letter {dead_letter_id}")
    if dead_letter_id in await redriven_ids(settings):
        raise RedriveError(f"dead letter {dead_letter_id} was already re-driven")
    key = str(letter.case_id).encode() if letter.case_id else letter.original_key
    producer = AIOKafkaProducer(acks="all", **client_options(settings))
    await producer.start()
    try:
        sent = await producer.send_and_wait(REDRIVE.name, codec.encode_event(letter), key=key)
    finally:
        await producer.stop()
    return RedriveResult(dead_letter_id, sent.partition, sent.offset)
