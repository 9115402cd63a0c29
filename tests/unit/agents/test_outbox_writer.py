"""The one outbox writer: dead letters signed, keyed by case, their original sealed under the
case key (a writer without a key store writes neither audit entries nor such letters)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.io.outbox_writer import OutboxWriter
from hub.audit.keys import KeyStore, MemoryKeyStore
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction, DeadLetterReason
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, CASE_STATE, DEAD_LETTERS
from hub.flow.case_state import CaseState
from hub.flow.dead_letters import (
    dead_letter,
)
from hub.flow.decisions import AuditNote
from hub.flow.ingest import (
    RawRecord,
)
from hub.flow.sealed_letters import OriginalUnavailableError, open_original
from hub.trust.hub_keys import signed_by_hub
from hub.trust.signing import SIGNATURE_HEADER, SIGNATURE_HEADERS, HubSigner, public_key_b64
from hub.trust.verification import SignatureError


class RecordingProducer:
    """Keeps what is sent; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.partitions: list[int | None] = []
        self.batches = 0

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[object]:
        self.sent.append((topic, value, key, headers or []))
        self.partitions.append(partition)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    # The batch API the worker's writer sends with (``send_batch`` per partition).
    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    def create_batch(self) -> RecordingBatch:
        return RecordingBatch()

    async def send_batch(
        self, batch: RecordingBatch, topic: str, *, partition: int
    ) -> asyncio.Future[object]:
        for key, value, headers in batch.records:
            await self.send(topic, value, key=key, headers=headers, partition=partition)
        self.batches += 1
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class RecordingBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []

    def append(
        self,
        *,
        timestamp: float | None,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
    ) -> object:
        self.records.append((key, value, headers))
        return object()


def _writer(
    registry: SchemaRegistry, key_store: KeyStore | None = None
) -> tuple[OutboxWriter, RecordingProducer, Codec]:
    producer = RecordingProducer()
    codec = Codec(registry)
    signer = HubSigner(Ed25519PrivateKey.generate(), "hub-test")
    writer = OutboxWriter(cast(AIOKafkaProducer, producer), codec, key_store, signer=signer)
    return writer, producer, codec


PERSONAL = b'{"first_name":"Amina","date_of_birth":"1994-03-12"}'


async def test_a_dead_letter_writer_signs_and_keys_by_case(registry: SchemaRegistry) -> None:
    keys = MemoryKeyStore()
    writer, producer, codec = _writer(registry, keys)
    case_id = uuid.uuid4()
    raw = RawRecord("nrm.inbox.police", 1, 7, b"k", PERSONAL, 1_700_000_000_000)
    letter = dead_letter(raw, DeadLetterReason.DELIVERY_FAILED, "webhook down", case_id=case_id)

    await (await writer.dead_letter(letter))

    [(topic, value, key, headers)] = producer.sent
    assert topic == DEAD_LETTERS.name
    assert key == str(case_id).encode()
    assert {name for name, _ in headers} == SIGNATURE_HEADERS
    decoded: Any = codec.decode_event(value)
    assert decoded.dead_letter_id == letter.dead_letter_id
    # The original is sealed under the case key: not in the bytes written, but recoverable.
    assert b"Amina" not in value
    assert b"1994" not in value
    assert open_original(decoded, keys) == PERSONAL
    keys.destroy(case_id)
    with pytest.raises(OriginalUnavailableError):
        open_original(decoded, keys)


async def test_a_dead_letter_of_an_unknown_case_stays_clear(registry: SchemaRegistry) -> None:
    # No case, no key: the dead-letter topic's short retention is what limits it.
    writer, producer, codec = _writer(registry, MemoryKeyStore())
    raw = RawRecord("nrm.outbox.police", 1, 7, None, PERSONAL, 1_700_000_000_000)
    await (await writer.dead_letter(dead_letter(raw, DeadLetterReason.CORRUPT_FRAME, "bad frame")))
    decoded: Any = codec.decode_event(producer.sent[0][1])
    assert decoded.original == PERSONAL


async def test_a_dead_letter_of_an_erased_case_keeps_no_original(registry: SchemaRegistry) -> None:
    keys = MemoryKeyStore()
    writer, producer, codec = _writer(registry, keys)
    case_id = uuid.uuid4()
    keys.destroy(case_id)
    raw = RawRecord("nrm.outbox.police", 1, 7, b"k", PERSONAL, 1_700_000_000_000)
    letter = dead_letter(raw, DeadLetterReason.SCHEMA_VIOLATION, "invalid", case_id=case_id)
    await (await writer.dead_letter(letter))
    value = producer.sent[0][1]
    decoded: Any = codec.decode_event(value)
    assert decoded.original == b""
    assert b"Amina" not in value
    assert "key is destroyed" in decoded.detail


async def test_a_writer_without_key_store_refuses_a_dead_letter_of_a_known_case(
    registry: SchemaRegistry,
) -> None:
    writer, producer, _ = _writer(registry)
    raw = RawRecord("nrm.outbox.police", 1, 7, b"k", PERSONAL, 1_700_000_000_000)
    letter = dead_letter(raw, DeadLetterReason.CORRUPT_FRAME, "bad", case_id=uuid.uuid4())
    with pytest.raises(RuntimeError, match="key store"):
        await writer.dead_letter(letter)
    assert producer.sent == []


async def test_a_writer_without_key_store_writes_no_audit_entry(
    registry: SchemaRegistry,
) -> None:
    writer, producer, _ = _writer(registry)
    note = AuditNote(action=AuditAction.RECEIVED, decision="accepted")
    with pytest.raises(RuntimeError, match="no audit entries"):
        await writer.audit(
            CaseState(case_id=uuid.uuid4()),
            [note],
            recorded_at=datetime.now(UTC),
            event_id=None,
            sender="police",
            sender_role=AgencyRole.HUB,
        )
    assert producer.sent == []


class JournalProbe(MemoryKeyStore):
    """Records, at each flush, how many records the producer had been handed."""

    def __init__(self, producer: RecordingProducer) -> None:
        super().__init__()
        self.producer = producer
        self.flushed_after: list[int] = []

    def flush(self) -> None:
        self.flushed_after.append(len(self.producer.sent))


async def test_a_writer_with_keys_sends_nothing_until_its_keys_are_flushed(
    registry: SchemaRegistry,
) -> None:
    producer = RecordingProducer()
    store = JournalProbe(producer)
    writer = OutboxWriter(cast(AIOKafkaProducer, producer), Codec(registry), store, hold=True)
    note = AuditNote(
        action=AuditAction.RECEIVED,
        decision="accepted",
        payload={"identity": {"first_name": "Amina"}},
    )
    futures = []
    for _ in range(3):  # three new cases in one batch
        _state, written = await writer.audit(
            CaseState(case_id=uuid.uuid4()),
            [note],
            recorded_at=datetime.now(UTC),
            event_id=uuid.uuid4(),
            sender="police-93",
            sender_role=AgencyRole.POLICE_GENDARMERIE,
        )
        futures += written
    assert producer.sent == []
    assert not any(f.done() for f in futures)

    await writer.release()

    assert store.flushed_after == [0]  # one flush, before the first record went out
    assert len(producer.sent) == 3
    assert await asyncio.gather(*futures) == [None] * 3  # the held futures settle with the sends
    await writer.release()  # nothing held: nothing sent again
    assert len(producer.sent) == 3


async def test_case_states_wait_for_the_keys_their_encoding_made(registry: SchemaRegistry) -> None:
    producer = RecordingProducer()
    store = JournalProbe(producer)
    writer = OutboxWriter(cast(AIOKafkaProducer, producer), Codec(registry), store, hold=True)
    case_id = uuid.uuid4()
    store.get_or_create(case_id)  # e.g. the state encrypted under the case key as it is written
    state = await writer.send(CASE_STATE.name, b"sealed state", key=case_id.bytes, partition=2)
    assert producer.sent == []
    await writer.release()
    assert store.flushed_after == [0]
    assert [(topic, headers) for topic, _v, _k, headers in producer.sent] == [(CASE_STATE.name, [])]
    assert producer.partitions == [2]  # the changelog's co-partitioning is kept
    assert await state is None


async def test_a_writer_that_does_not_hold_flushes_keys_before_each_send(
    registry: SchemaRegistry,
) -> None:
    producer = RecordingProducer()
    store = JournalProbe(producer)
    writer, _, _ = _writer(registry, store)
    writer.producer = cast(AIOKafkaProducer, producer)
    raw = RawRecord("nrm.outbox.police", 1, 7, b"k", PERSONAL, 1_700_000_000_000)
    letter = dead_letter(raw, DeadLetterReason.DELIVERY_FAILED, "down", case_id=uuid.uuid4())
    await (await writer.dead_letter(letter))  # the webhook deliverer's way: no release()
    assert store.flushed_after == [0]
    assert len(producer.sent) == 1


async def test_a_batch_of_audit_entries_is_signed_once_and_each_entry_proves_itself(
    registry: SchemaRegistry,
) -> None:
    producer = RecordingProducer()
    signer = HubSigner(Ed25519PrivateKey.generate(), "hub-test")
    writer = OutboxWriter(
        cast(AIOKafkaProducer, producer), Codec(registry), MemoryKeyStore(), signer, hold=True
    )
    notes = [AuditNote(action=AuditAction.RECEIVED, decision="accepted")] * 2
    for _ in range(3):  # three cases, two entries each
        await writer.audit(
            CaseState(case_id=uuid.uuid4()),
            notes,
            recorded_at=datetime.now(UTC),
            event_id=uuid.uuid4(),
            sender="police-93",
            sender_role=AgencyRole.POLICE_GENDARMERIE,
        )
    raw = RawRecord("nrm.outbox.police", 1, 7, b"k", PERSONAL, 1_700_000_000_000)
    await writer.dead_letter(dead_letter(raw, DeadLetterReason.DELIVERY_FAILED, "down"))
    await writer.release()

    audit = [(k, v, h) for topic, v, k, h in producer.sent if topic == AUDIT.name]
    assert len(audit) == 6
    assert len({dict(h)[SIGNATURE_HEADER] for _k, _v, h in audit}) == 1  # one signature
    keys = [public_key_b64(signer.private_key)]
    for key, value, headers in audit:
        assert signed_by_hub(AUDIT.name, key, value, headers, keys) == "hub-test"
        tampered = value[:-1] + bytes([value[-1] ^ 1])
        with pytest.raises(SignatureError):
            signed_by_hub(AUDIT.name, key, tampered, headers, keys)
    # Everything else keeps a signature of its own: its readers check records one by one.
    [(_, _, _, letter_headers)] = [s for s in producer.sent if s[0] == DEAD_LETTERS.name]
    assert {name for name, _ in letter_headers} == SIGNATURE_HEADERS
