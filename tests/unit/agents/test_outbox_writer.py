"""The one outbox writer: a writer of dead letters only (the webhook deliverer's) needs no key
store, and writes them signed, keyed by case, on the dead-letter topic."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.io.outbox_writer import OutboxWriter
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction, DeadLetterReason
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS
from hub.flow.case_state import CaseState
from hub.flow.decisions import AuditNote
from hub.flow.ingest import RawRecord, dead_letter
from hub.trust.signing import SIGNATURE_HEADERS, HubSigner


class RecordingProducer:
    """Keeps what is sent; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        self.sent.append((topic, value, key, headers))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _writer(registry: SchemaRegistry) -> tuple[OutboxWriter, RecordingProducer, Codec]:
    producer = RecordingProducer()
    codec = Codec(registry)
    signer = HubSigner(Ed25519PrivateKey.generate(), "hub-test")
    writer = OutboxWriter(cast(AIOKafkaProducer, producer), codec, signer=signer)
    return writer, producer, codec


async def test_a_dead_letter_writer_signs_and_keys_by_case(registry: SchemaRegistry) -> None:
    writer, producer, codec = _writer(registry)
    case_id = uuid.uuid4()
    raw = RawRecord("nrm.inbox.police", 1, 7, b"k", b"value", 1_700_000_000_000)
    letter = dead_letter(raw, DeadLetterReason.DELIVERY_FAILED, "webhook down", case_id=case_id)

    await (await writer.dead_letter(letter))

    [(topic, value, key, headers)] = producer.sent
    assert topic == DEAD_LETTERS.name
    assert key == str(case_id).encode()
    assert {name for name, _ in headers} == SIGNATURE_HEADERS
    decoded: Any = codec.decode_event(value)
    assert decoded.dead_letter_id == letter.dead_letter_id


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
