"""Stored audit records as verification reads them: where each sits, what it decodes to,
whether its bytes are the entry's canonical encoding, whether the hub signed it, and the
kinds of problem verification names (``hub.audit.verify``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import ValidationError

from hub.audit.chain import AUDIT_SUBJECT
from hub.audit.proof import UNCHECKED, Headers, Proof, ProofCheck
from hub.contracts.codec import Codec, CodecError
from hub.contracts.hub_records import (
    AuditEntry,
)


class ProblemKind(StrEnum):
    """What verification can find wrong; each is a failure."""

    BREAK = "BREAK"
    """An entry's hash does not match its content, or its prev_hash not the previous hash."""
    GAP = "GAP"
    """Seqs missing from the case's chain."""
    REORDER = "REORDER"
    """An entry stored out of seq order."""
    FORK = "FORK"
    """Two different entries claim the same seq (or an entry differs from the known head)."""
    CORRUPT = "CORRUPT"
    """Bytes that are not a valid, canonically encoded audit entry."""
    MISPLACED = "MISPLACED"
    """A record whose Kafka key is not its entry's case id."""
    MISSING = "MISSING"
    """A record the index knows is no longer at its offset."""
    TRUNCATED = "TRUNCATED"
    """The log ends before the head known from elsewhere (writer state, index)."""
    UNPROVEN = "UNPROVEN"
    """An entry the hub did not sign (unsigned, another key, or altered since): not believed."""


@dataclass(frozen=True)
class Position:
    """Where a record sits: its index in the verified sequence, and its Kafka coordinates."""

    index: int
    partition: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        if self.partition is not None and self.offset is not None:
            return f"partition {self.partition} offset {self.offset}"
        return f"index {self.index}"


@dataclass(frozen=True)
class LogRecord:
    """One stored record: the entry it decodes to (if any), its key, and what is wrong with it.

    ``error`` with no ``entry``: the bytes are not an AuditEntry at all (``error_kind``
    CORRUPT), or the record the index points to is gone (MISSING). ``error`` with an
    ``entry``: the bytes decode, but are not the canonical Avro encoding of that entry.
    ``proof``: whether the hub signed it (``UNCHECKED`` for a plain entry).
    """

    position: Position
    entry: AuditEntry | None
    key: bytes | None = None
    error: str | None = None
    error_kind: ProblemKind = ProblemKind.CORRUPT
    expected_seq: int | None = None
    proof: Proof = UNCHECKED

    @property
    def believed(self) -> bool:
        """True when its entry may be shown: it decodes and the hub's signature is not refused."""
        return self.entry is not None and not self.proof.refused


def decode_record(
    codec: Codec,
    value: bytes | None,
    *,
    key: bytes | None,
    position: Position,
    prove: ProofCheck,
    headers: Headers = None,
) -> LogRecord:
    """Decode one stored audit record, check its bytes are the entry's canonical encoding, and
    check with ``prove`` that the hub signed it (key, value and ``headers`` as stored).

    The second check matters because two byte strings can decode to equal values (a uuid
    written in upper case): only re-encoding shows the stored bytes were touched. The
    signature is checked only on records that decode to an entry: the others are already
    CORRUPT.
    """
    record = _decoded(codec, value, key=key, position=position)
    if record.entry is None:
        return record
    return replace(record, proof=prove(key, value, headers))


def _decoded(
    codec: Codec, value: bytes | None, *, key: bytes | None, position: Position
) -> LogRecord:
    if value is None:
        return LogRecord(position, None, key, "enregistrement vide (tombstone Kafka)")
    try:
        decoded = codec.decode(value)
    except CodecError as exc:
        return LogRecord(position, None, key, f"enregistrement illisible ({exc.reason.value})")
    if decoded.subject != AUDIT_SUBJECT:
        return LogRecord(position, None, key, f"un {decoded.subject}, pas une entrée d'audit")
    try:
        entry = AuditEntry.model_validate(decoded.record)
        canonical = codec.encode_with(codec.registry.by_id(decoded.schema_id), decoded.record)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "?" for e in exc.errors()}))
        return LogRecord(position, None, key, f"entrée d'audit invalide (champs : {fields})")
    except CodecError as exc:
        return LogRecord(position, None, key, f"entrée d'audit invalide ({exc.reason.value})")
    if canonical != value:
        return LogRecord(
            position, entry, key, "les octets rangés ne sont pas l'encodage Avro de l'entrée"
        )
    return LogRecord(position, entry, key)
