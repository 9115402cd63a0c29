"""The dead letter of a refused record: its machine reason, its detail, and the original bytes
and origin, cut to sizes that always fit on the dead-letter topic."""

import uuid

from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import DeadLetter, RecordHeader
from hub.flow.ingest import RawRecord, Rejected
from hub.flow.sealed_letters import CUT_NOTE, MAX_ORIGINAL_BYTES

DEAD_LETTER_NAMESPACE = uuid.UUID("0d1e2a3d-1e77-4e25-8b0b-6e726d2d646c")
MAX_KEY_BYTES = 1024
MAX_HEADERS = 16
MAX_HEADER_BYTES = 1024
"""Keys and headers are cut too: a 600 KiB key must not make the dead letter unwritable."""


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
    produces the same dead letter (operators see it once). When the caller knows no case (the
    value does not decode: an unknown schema id, corrupt bytes), the record key names it if it
    is a case id, as agencies key their records: the writer then seals the original under that
    case's key, so erasing the case reaches this copy too instead of leaving it in clear.
    """
    if case_id is None:
        case_id = case_of_record_key(raw.key)
    if schema_id is not None and not 0 <= schema_id < 2**31:
        # The frame's id is unsigned 32-bit; the dead letter's field is an Avro int.
        detail = f"{detail} (schema id {schema_id})"
        schema_id = None
    original = raw.value or b""
    if len(original) > MAX_ORIGINAL_BYTES:
        detail = f"{detail} {CUT_NOTE}"
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


def case_of_record_key(key: bytes | None) -> uuid.UUID | None:
    """The case a record key names, if it is a case id in canonical form (untrusted, like
    the envelope's: it only chooses the key a dead letter's original is sealed under)."""
    try:
        text = (key or b"").decode("ascii")
        case_id = uuid.UUID(text)
    except ValueError:
        return None
    return case_id if str(case_id) == text else None


def rejected_letter(rejected: Rejected) -> DeadLetter:
    """The dead letter for an ingest refusal."""
    return dead_letter(
        rejected.raw,
        rejected.reason,
        rejected.detail,
        schema_id=rejected.schema_id,
        case_id=rejected.case_id,
        event_id=rejected.event_id,
        claimed_sender=rejected.claimed_sender,
        again=rejected.again,
    )
