"""Ingest: turn one raw record from an agency outbox into a trusted ``Inbound``, or refuse it.

The sending agency is the owner of the outbox topic the record was read from, never a payload
field. The record must be a registered event, valid against its model, keyed and partitioned
by its case id (so every record of a case meets the same worker and the same state). Anything
else is a ``Rejected`` value carrying the dead letter's machine reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import EVENT_MODELS, DeadLetter, RecordHeader
from hub.contracts.partitioning import case_partition
from hub.contracts.topics import agency_of_outbox
from hub.flow.decisions import Inbound, digest_of
from hub.rules.directory import Directory

DEAD_LETTER_NAMESPACE = uuid.UUID("0d1e2a3d-1e77-4e25-8b0b-6e726d2d646c")
MAX_ORIGINAL_BYTES = 256 * 1024
"""An oversize record's bytes are cut to this in its dead letter (which must itself fit)."""
MAX_KEY_BYTES = 1024
MAX_HEADERS = 16
MAX_HEADER_BYTES = 1024
"""Keys and headers are cut too: a 600 KiB key must not make the dead letter unwritable."""


@dataclass(frozen=True)
class RawRecord:
    """A record as read from Kafka, before anything is trusted."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: Sequence[tuple[str, bytes]] = ()
    partitions: int = 4
    redriven: bool = False

    @property
    def timestamp(self) -> datetime:
        """The record's timestamp as a UTC instant."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Rejected:
    """A record refused at ingest, with what could be learnt about it."""

    raw: RawRecord
    reason: DeadLetterReason
    detail: str
    schema_id: int | None = None
    case_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    claimed_sender: str | None = None


def accept(raw: RawRecord, codec: Codec, directory: Directory) -> Inbound | Rejected:
    """Authenticate the channel, decode and validate one outbox record."""
    owner = agency_of_outbox(raw.topic)
    sender = directory.get(owner) if owner else None
    if sender is None:
        case_id, event_id = _peek_ids(raw, codec)
        return Rejected(
            raw,
            DeadLetterReason.SPOOFED_SENDER,
            f"no agency in the directory owns the topic {raw.topic}",
            case_id=case_id,
            event_id=event_id,
        )
    if raw.value is None:
        return Rejected(raw, DeadLetterReason.CORRUPT_FRAME, "record has no value")
    try:
        decoded = codec.decode(raw.value)
    except CodecError as exc:
        return Rejected(raw, exc.reason, exc.detail, schema_id=exc.schema_id)
    model = EVENT_MODELS.get(decoded.subject)
    envelope = decoded.record.get("envelope")
    if model is None or not isinstance(envelope, dict):
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"agencies do not publish {decoded.subject}; only the hub emits it",
            schema_id=decoded.schema_id,
        )
    case_id, event_id = _ids(envelope)
    claimed = envelope.get("sender")
    try:
        event = model.model_validate(decoded.record)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return Rejected(
            raw,
            DeadLetterReason.SCHEMA_VIOLATION,
            f"{decoded.subject}: {detail}",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    assert case_id is not None
    expected_key = str(case_id).encode()
    if raw.key != expected_key:
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            "records must be keyed by their case id",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    if raw.partition != case_partition(case_id, raw.partitions):
        return Rejected(
            raw,
            DeadLetterReason.SEMANTIC_VIOLATION,
            "records must be partitioned by case id with the default partitioner",
            decoded.schema_id,
            case_id,
            event_id,
            claimed,
        )
    return Inbound(
        subject=decoded.subject,
        record=decoded.record,
        event=event,
        sender=sender,
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        timestamp=raw.timestamp,
        digest=digest_of(raw.value),
        frame=raw.value,
        headers=tuple(raw.headers),
        redriven=raw.redriven,
    )


def _peek_ids(raw: RawRecord, codec: Codec) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Case and event ids of an untrusted record, when it decodes (for operators only)."""
    try:
        envelope = codec.decode(raw.value or b"").record.get("envelope")
    except CodecError:
        return None, None
    return _ids(envelope) if isinstance(envelope, dict) else (None, None)


def _ids(envelope: dict[str, Any]) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    def as_uuid(value: Any) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(value)) if value is not None else None
        except ValueError:
            return None

    return as_uuid(envelope.get("case_id")), as_uuid(envelope.get("event_id"))


def dead_letter(
    raw: RawRecord,
    reason: DeadLetterReason,
    detail: str,
    *,
    schema_id: int | None = None,
    case_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    claimed_sender: str | None = None,
    again: str = "",
) -> DeadLetter:
    """The dead letter for a refused record: reason, detail, original bytes and origin.

    Its id is derived from the origin, so re-processing the same record after a crash
    produces the same dead letter (operators see it once).
    """
    if schema_id is not None and not 0 <= schema_id < 2**31:
        # The frame's id is unsigned 32-bit; the dead letter's field is an Avro int.
        detail = f"{detail} (schema id {schema_id})"
        schema_id = None
    original = raw.value or b""
    if len(original) > MAX_ORIGINAL_BYTES:
        detail = f"{detail} (original cut to its first {MAX_ORIGINAL_BYTES} bytes)"
        original = original[:MAX_ORIGINAL_BYTES]
    return DeadLetter(
        dead_letter_id=uuid.uuid5(
            DEAD_LETTER_NAMESPACE, f"{raw.topic}/{raw.partition}/{raw.offset}{again}"
        ),
        occurred_at=raw.timestamp,
        reason=reason,
        detail=detail[:2000],
        original=original,
        original_key=raw.key[:MAX_KEY_BYTES] if raw.key is not None else None,
        original_headers=tuple(
            RecordHeader(name=n[:MAX_HEADER_BYTES], value=(v or b"")[:MAX_HEADER_BYTES])
            for n, v in raw.headers[:MAX_HEADERS]
        ),
        source_topic=raw.topic,
        source_partition=raw.partition,
        source_offset=raw.offset,
        schema_id=schema_id,
        case_id=case_id,
        event_id=event_id,
        claimed_sender=claimed_sender,
    )


def rejected_letter(rejected: Rejected, again: str = "") -> DeadLetter:
    """The dead letter for an ingest refusal (``again``: a re-drive's origin, so a re-drive
    that fails again is a new dead letter, not the old one)."""
    return dead_letter(
        rejected.raw,
        rejected.reason,
        rejected.detail,
        schema_id=rejected.schema_id,
        case_id=rejected.case_id,
        event_id=rejected.event_id,
        claimed_sender=rejected.claimed_sender,
        again=again,
    )
