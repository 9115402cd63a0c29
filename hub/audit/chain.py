"""The per-case hash chain of audit entries: how an entry is made and hashed, and chain heads.

Each ``AuditEntry`` of a case carries ``seq`` (0, 1, 2, ...), ``prev_hash`` (the ``hash`` of
the entry before it, ``GENESIS_HASH`` for seq 0) and ``hash``: SHA-256 over the entry's
*canonical encoding* (``canonical_bytes``). That encoding is ours, not Avro's: a fixed,
versioned list of length-prefixed fields, so a hash computed today still verifies after the
Avro schema gains a field or fastavro changes. Personal data is chained as ciphertext only, so
destroying the case key (erasure) leaves every hash intact.

Everything here is pure: ``next_entry`` makes the next entry from a ``ChainHead`` (the single
writer keeps that head in its case state). The only I/O is the key store passed to
``next_entry``. ``hub.audit.verify`` checks stored chains.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from hub.audit.keys import KeyStore, encrypt_payload
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, LawfulBasis
from hub.contracts.events import (
    subject_of,
)
from hub.contracts.hub_records import (
    AuditEntry,
)

CHAIN_VERSION = 1
GENESIS_HASH = bytes(32)
"""``prev_hash`` of every case's seq 0."""

AUDIT_SUBJECT = subject_of(AuditEntry)
_DOMAIN = b"nrm.audit.entry.v1\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_CATEGORY_ORDER = {category: rank for rank, category in enumerate(DataCategory)}
_TAGGED = {c.tag: c for c in DataCategory if c is not DataCategory.UNKNOWN}
"""The categories a payload key may name, by tag (``"health"``): every one but UNKNOWN."""


class AuditEntryError(ValueError):
    """Arguments that cannot make a valid audit entry (wrong case, unknown category tag)."""


class ChainHead(BaseModel):
    """The last entry of a case's chain, as its single writer remembers it."""

    # Kept inside the case state's JSON changelog: hashes are raw bytes, so base64 them.
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    case_id: UUID
    seq: int
    hash: bytes

    @classmethod
    def of(cls, entry: AuditEntry) -> ChainHead:
        """The head after ``entry``."""
        return cls(case_id=entry.case_id, seq=entry.seq, hash=entry.hash)


# ------------------------------------------------------------------------- canonical encoding


_LENGTH = struct.Struct(">I")
_SEQ_AND_TIME = struct.Struct(">qq")
_ABSENT = b"\x00"
_PRESENT = b"\x01"
_LAWFUL_BASES_TAG = b"\x02"


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


_SYMBOLS = {
    symbol: _text(symbol.value)
    for enum in (AgencyRole, AuditAction, DataCategory, LawfulBasis)
    for symbol in enum
}
"""Every enum symbol as the encoding writes it (its name, length-prefixed), made once."""


def _optional_text(value: str | None) -> bytes:
    return _ABSENT if value is None else _PRESENT + _text(value)


def _millis(instant: datetime) -> int:
    # A naive instant is UTC, as the entry's own validation takes it.
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - _EPOCH) // _MILLISECOND


def canonical_bytes(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers: version 1 of the chain's canonical encoding.

    A domain tag, then every field but ``hash`` in schema order: uuids as 16 raw bytes,
    ``seq`` and ``recorded_at`` (epoch milliseconds) as signed big-endian 64-bit integers,
    strings as UTF-8 and bytes as themselves, each with a 4-byte big-endian length prefix;
    an optional field is ``0x00`` when null, else ``0x01`` and its value; ``categories`` is
    its count then each symbol in stored order. Enums are hashed by symbol name, never by
    index. ``lawful_bases`` (added in AuditEntry v2) follows ``prev_hash`` only when not
    empty: tag ``0x02``, its count, each symbol. Any other field added later is not covered
    until a new version of this encoding (``CHAIN_VERSION``) is introduced and marked in the
    entry.
    """
    return _canonical(
        entry.case_id,
        entry.seq,
        entry.recorded_at,
        entry.actor,
        entry.actor_role,
        entry.event_id,
        entry.action,
        (entry.decision, entry.reason, entry.legal_basis, entry.recipient),
        entry.categories,
        entry.payload_ciphertext,
        entry.key_id,
        entry.prev_hash,
        entry.lawful_bases,
    )


def _canonical(
    case_id: UUID,
    seq: int,
    recorded_at: datetime,
    actor: str,
    actor_role: AgencyRole,
    event_id: UUID | None,
    action: AuditAction,
    notes: tuple[str | None, str | None, str | None, str | None],
    categories: Sequence[DataCategory],
    ciphertext: bytes | None,
    key_id: str | None,
    prev_hash: bytes,
    lawful_bases: Sequence[LawfulBasis],
) -> bytes:
    """``canonical_bytes`` of the entry these fields make (``notes``: decision, reason,
    legal basis, recipient), so ``next_entry`` hashes an entry before making it."""
    parts = [
        _DOMAIN,
        case_id.bytes,
        _SEQ_AND_TIME.pack(seq, _millis(recorded_at)),
        _text(actor),
        _SYMBOLS[actor_role],
        _ABSENT if event_id is None else _PRESENT + _LENGTH.pack(16) + event_id.bytes,
        _SYMBOLS[action],
        *map(_optional_text, notes),
        _LENGTH.pack(len(categories)),
        *[_SYMBOLS[category] for category in categories],
        _ABSENT if ciphertext is None else _PRESENT + _LENGTH.pack(len(ciphertext)) + ciphertext,
        _optional_text(key_id),
        _LENGTH.pack(len(prev_hash)),
        prev_hash,
    ]
    # ``lawful_bases`` (AuditEntry v2), after ``prev_hash`` only when not empty: an entry
    # without it hashes exactly as before, so chains written earlier still verify.
    if lawful_bases:
        parts += [_LAWFUL_BASES_TAG, _LENGTH.pack(len(lawful_bases))]
        parts += [_SYMBOLS[basis] for basis in lawful_bases]
    return b"".join(parts)


def entry_hash(entry: AuditEntry) -> bytes:
    """SHA-256 of the entry's canonical encoding (its ``hash`` field is not covered)."""
    return hashlib.sha256(canonical_bytes(entry)).digest()


# ------------------------------------------------------------------------- making entries


def _categories_of(
    categories: Iterable[DataCategory], payload: Mapping[str, Any] | None
) -> tuple[DataCategory, ...]:
    chosen = set(categories)
    for tag in payload or {}:
        category = _TAGGED.get(tag)
        if category is None:
            raise AuditEntryError(f"payload key {tag!r} is not a data category tag")
        chosen.add(category)
    # Sorted: a set's order changes between processes, the entry's bytes must not.
    return tuple(sorted(chosen, key=_CATEGORY_ORDER.__getitem__))


def next_entry(
    head: ChainHead | None,
    *,
    case_id: UUID,
    recorded_at: datetime,
    actor: str,
    actor_role: AgencyRole,
    event_id: UUID | None,
    action: AuditAction,
    decision: str | None = None,
    reason: str | None = None,
    legal_basis: str | None = None,
    recipient: str | None = None,
    categories: Iterable[DataCategory] = (),
    payload: Mapping[str, Any] | None = None,
    lawful_bases: Iterable[LawfulBasis] = (),
    key_store: KeyStore,
) -> tuple[AuditEntry, ChainHead]:
    """The entry that follows ``head`` (``None``: the case's first entry) and the new head.

    Deterministic: the same head and arguments give a byte-identical entry, so an event
    re-processed after a crash re-creates the same entry, which ``verify`` counts as a
    harmless duplicate. That is why ``recorded_at`` is passed in (the inbound event's time,
    not the clock) and the payload nonce is derived, not random. ``payload`` maps data
    category tags (``"health"``) to JSON-able data; it is encrypted under the case key and
    its categories are added to ``categories`` (stored sorted). Raises ``AuditEntryError``
    for a head of another case or an unknown category tag, and
    ``hub.audit.keys.KeyDestroyedError`` for personal data about an erased case.
    """
    if head is not None and head.case_id != case_id:
        raise AuditEntryError(f"head belongs to case {head.case_id}, not {case_id}")
    seq = head.seq + 1 if head is not None else 0
    prev_hash = head.hash if head is not None else GENESIS_HASH
    chosen = _categories_of(categories, payload)
    ciphertext: bytes | None = None
    key_id: str | None = None
    if payload:
        key_id, key = key_store.get_or_create(case_id)
        ciphertext = encrypt_payload(
            key, payload, case_id=case_id, seq=seq, event_id=event_id, action=action.value
        )
    bases = tuple(lawful_bases)
    digest = hashlib.sha256(
        _canonical(
            case_id,
            seq,
            recorded_at,
            actor,
            actor_role,
            event_id,
            action,
            (decision, reason, legal_basis, recipient),
            chosen,
            ciphertext,
            key_id,
            prev_hash,
            bases,
        )
    ).digest()
    entry = AuditEntry(
        case_id=case_id,
        seq=seq,
        recorded_at=recorded_at,
        actor=actor,
        actor_role=actor_role,
        event_id=event_id,
        action=action,
        decision=decision,
        reason=reason,
        legal_basis=legal_basis,
        recipient=recipient,
        categories=chosen,
        payload_ciphertext=ciphertext,
        key_id=key_id,
        lawful_bases=bases,
        prev_hash=prev_hash,
        hash=digest,
    )
    return entry, ChainHead.of(entry)


def head_of(entries: Iterable[AuditEntry]) -> ChainHead | None:
    """The head to append after: the intact entry with the highest seq, if any."""
    best: AuditEntry | None = None
    for entry in entries:
        if (best is None or entry.seq > best.seq) and entry_hash(entry) == entry.hash:
            best = entry
    return ChainHead.of(best) if best is not None else None
