"""The records the hub keeps for itself, without an envelope: dead letters, audit entries and
the directory (agencies and the public keys they sign with).

Like the events of ``hub.contracts.events`` they mirror ``schemas/avro`` field for field; they
are registered as top-level subjects there.
"""

from uuid import UUID

from hub.contracts.avro_record import AvroRecord
from hub.contracts.enums import (
    AgencyRole,
    AuditAction,
    DataCategory,
    DeadLetterReason,
    Gender,
    Int32,
    Int64,
    LawfulBasis,
    Seq,
    Specialism,
    UtcMillis,
)


class RecordHeader(AvroRecord):
    """A Kafka record header, kept so a re-driven record carries its original signature."""

    name: str
    value: bytes


class DeadLetter(AvroRecord):
    """A record the hub refused to route, with a machine-readable reason (no envelope)."""

    dead_letter_id: UUID
    occurred_at: UtcMillis
    reason: DeadLetterReason
    detail: str
    original: bytes
    original_key: bytes | None = None
    original_headers: Seq[RecordHeader] = ()
    source_topic: str
    source_partition: Int32
    source_offset: Int64
    schema_id: Int32 | None = None
    case_id: UUID | None = None
    event_id: UUID | None = None
    claimed_sender: str | None = None


class AuditEntry(AvroRecord):
    """One hash-chained entry of a case's audit log (no envelope)."""

    case_id: UUID
    seq: Int64
    recorded_at: UtcMillis
    actor: str
    actor_role: AgencyRole
    event_id: UUID | None = None
    action: AuditAction
    decision: str | None = None
    reason: str | None = None
    legal_basis: str | None = None
    recipient: str | None = None
    categories: Seq[DataCategory] = ()
    payload_ciphertext: bytes | None = None
    key_id: str | None = None
    lawful_bases: Seq[LawfulBasis] = ()
    prev_hash: bytes
    hash: bytes


class SigningKeyEntry(AvroRecord):
    """An Ed25519 public key an agency signs its records with."""

    key_id: str
    public_key: str
    valid_from: UtcMillis | None = None
    valid_until: UtcMillis | None = None


class DirectoryEntry(AvroRecord):
    """One agency of the directory as published on the directory topic (latest wins)."""

    agency_id: str
    updated_at: UtcMillis
    removed: bool = False
    name: str
    role: AgencyRole
    departements: Seq[str] = ()
    national: bool = False
    specialisms: Seq[Specialism] = ()
    genders: Seq[Gender] = ()
    languages: Seq[str] = ()
    capacity: Int32 | None = None
    accepting: bool = True
    supervisor: str | None = None
    signing_keys: Seq[SigningKeyEntry] = ()
