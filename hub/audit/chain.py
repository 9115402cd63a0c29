"""The per-case hash chain of audit entries: how an entry is made, hashed and verified.

Each ``AuditEntry`` of a case carries ``seq`` (0, 1, 2, ...), ``prev_hash`` (the ``hash`` of
the entry before it, ``GENESIS_HASH`` for seq 0) and ``hash``: SHA-256 over the entry's
*canonical encoding* (``canonical_bytes``). That encoding is ours, not Avro's: a fixed,
versioned list of length-prefixed fields, so a hash computed today still verifies after the
Avro schema gains a field or fastavro changes. Personal data is chained as ciphertext only, so
destroying the case key (erasure) leaves every hash intact.

Everything here is pure: ``next_entry`` makes the next entry from a ``ChainHead`` (the single
writer keeps that head in its case state), and ``verify`` names every break, gap, reordering,
fork, corrupt record and truncation in a sequence of stored records, with its position. The
only I/O is the key store passed to ``next_entry``.
"""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from hub.audit.keys import KeyStore, encrypt_payload
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.events import AuditEntry, subject_of

CHAIN_VERSION = 1
GENESIS_HASH = bytes(32)
"""``prev_hash`` of every case's seq 0."""

AUDIT_SUBJECT = subject_of(AuditEntry)
_DOMAIN = b"nrm.audit.entry.v1\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_CATEGORY_ORDER = {category: rank for rank, category in enumerate(DataCategory)}


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


def _blob(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _text(value: str) -> bytes:
    return _blob(value.encode())


def _optional(data: bytes | None) -> bytes:
    return b"\x00" if data is None else b"\x01" + _blob(data)


def _millis(instant: datetime) -> int:
    return (instant - _EPOCH) // _MILLISECOND


def canonical_bytes(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers: version 1 of the chain's canonical encoding.

    A domain tag, then every field but ``hash`` in schema order: uuids as 16 raw bytes,
    ``seq`` and ``recorded_at`` (epoch milliseconds) as signed big-endian 64-bit integers,
    strings as UTF-8 and bytes as themselves, each with a 4-byte big-endian length prefix;
    an optional field is ``0x00`` when null, else ``0x01`` and its value; ``categories`` is
    its count then each symbol in stored order. Enums are hashed by symbol name, never by
    index. A field added to AuditEntry later is not covered until a new version of this
    encoding (``CHAIN_VERSION``) is introduced and marked in the entry.
    """
    return b"".join(
        (
            _DOMAIN,
            entry.case_id.bytes,
            struct.pack(">qq", entry.seq, _millis(entry.recorded_at)),
            _text(entry.actor),
            _text(entry.actor_role.value),
            _optional(entry.event_id.bytes if entry.event_id else None),
            _text(entry.action.value),
            _optional(entry.decision.encode() if entry.decision is not None else None),
            _optional(entry.reason.encode() if entry.reason is not None else None),
            _optional(entry.legal_basis.encode() if entry.legal_basis is not None else None),
            _optional(entry.recipient.encode() if entry.recipient is not None else None),
            struct.pack(">I", len(entry.categories)),
            b"".join(_text(category.value) for category in entry.categories),
            _optional(entry.payload_ciphertext),
            _optional(entry.key_id.encode() if entry.key_id is not None else None),
            _blob(entry.prev_hash),
        )
    )


def entry_hash(entry: AuditEntry) -> bytes:
    """SHA-256 of the entry's canonical encoding (its ``hash`` field is not covered)."""
    return hashlib.sha256(canonical_bytes(entry)).digest()


# ------------------------------------------------------------------------- making entries


def _categories_of(
    categories: Iterable[DataCategory], payload: Mapping[str, Any] | None
) -> tuple[DataCategory, ...]:
    chosen = set(categories)
    for tag in payload or {}:
        try:
            category = DataCategory.from_tag(tag)
        except ValueError:
            raise AuditEntryError(f"payload key {tag!r} is not a data category tag") from None
        if category is DataCategory.UNKNOWN or tag != category.tag:
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
    unsigned = AuditEntry(
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
        prev_hash=prev_hash,
        hash=b"",
    )
    entry = unsigned.model_copy(update={"hash": entry_hash(unsigned)})
    return entry, ChainHead.of(entry)


def head_of(entries: Iterable[AuditEntry]) -> ChainHead | None:
    """The head to append after: the intact entry with the highest seq, if any."""
    best: AuditEntry | None = None
    for entry in entries:
        if (best is None or entry.seq > best.seq) and entry_hash(entry) == entry.hash:
            best = entry
    return ChainHead.of(best) if best is not None else None


# ------------------------------------------------------------------------- stored records


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
    """

    position: Position
    entry: AuditEntry | None
    key: bytes | None = None
    error: str | None = None
    error_kind: ProblemKind = ProblemKind.CORRUPT
    expected_seq: int | None = None


def decode_record(
    codec: Codec, value: bytes | None, *, key: bytes | None, position: Position
) -> LogRecord:
    """Decode one stored audit record, and check its bytes are the entry's canonical encoding.

    The second check matters because two byte strings can decode to equal values (a uuid
    written in upper case): only re-encoding shows the stored bytes were touched.
    """
    if value is None:
        return LogRecord(position, None, key, "empty record (tombstone)")
    try:
        decoded = codec.decode(value)
    except CodecError as exc:
        return LogRecord(position, None, key, f"{exc.reason.value}: {exc.detail}")
    if decoded.subject != AUDIT_SUBJECT:
        return LogRecord(position, None, key, f"a {decoded.subject}, not an audit entry")
    try:
        entry = AuditEntry.model_validate(decoded.record)
        canonical = codec.encode_with(codec.registry.by_id(decoded.schema_id), decoded.record)
    except (ValidationError, CodecError) as exc:
        return LogRecord(position, None, key, f"invalid audit entry: {exc}")
    if canonical != value:
        return LogRecord(position, entry, key, "stored bytes are not the entry's Avro encoding")
    return LogRecord(position, entry, key)


# ------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Problem:
    """One failure, with where it is."""

    kind: ProblemKind
    case_id: UUID | None
    seq: int | None
    position: Position | None
    detail: str

    def describe(self) -> str:
        """One line for people: kind, case, seq, position, detail."""
        where = str(self.position) if self.position else "not in the log"
        seq = f" seq {self.seq}" if self.seq is not None else ""
        return f"{self.kind.value} case {self.case_id or '?'}{seq} at {where}: {self.detail}"


@dataclass(frozen=True)
class Duplicate:
    """An exact copy of an earlier entry (an at-least-once redelivery): harmless."""

    case_id: UUID
    seq: int
    position: Position
    first_position: Position


@dataclass(frozen=True)
class VerificationReport:
    """What ``verify`` found: problems (failures), benign duplicates and each case's head."""

    records: int
    problems: tuple[Problem, ...]
    duplicates: tuple[Duplicate, ...]
    heads: dict[UUID, ChainHead] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing but benign duplicates was found."""
        return not self.problems

    @property
    def cases(self) -> int:
        """How many cases have at least one intact entry."""
        return len(self.heads)


@dataclass(frozen=True, slots=True)
class _Checked:
    # What verification keeps of an entry: enough to check links, never the personal payload.
    position: Position
    seq: int
    hash: bytes
    prev_hash: bytes
    recomputed: bytes

    @property
    def intact(self) -> bool:
        return self.recomputed == self.hash


class ChainVerifier:
    """Streaming verification: ``add`` records in log order, then ``report``.

    Memory is a few small fields per entry (no payloads), so a whole topic can be verified
    as it is read. ``verify`` is the one-shot form.
    """

    def __init__(self) -> None:
        self._problems: list[Problem] = []
        self._by_case: dict[UUID, list[_Checked]] = {}
        self._count = 0

    def add(self, item: AuditEntry | LogRecord) -> None:
        """Take the next record in log order (a plain entry is positioned by its index)."""
        index = self._count
        self._count += 1
        record = item if isinstance(item, LogRecord) else LogRecord(Position(index), item)
        entry = record.entry
        if entry is None:
            self._problems.append(
                Problem(
                    record.error_kind,
                    _uuid_or_none(record.key),
                    record.expected_seq,
                    record.position,
                    record.error or "",
                )
            )
            return
        if record.error:
            self._problems.append(
                Problem(record.error_kind, entry.case_id, entry.seq, record.position, record.error)
            )
        if record.key is not None and record.key != str(entry.case_id).encode():
            self._problems.append(
                Problem(
                    ProblemKind.MISPLACED,
                    entry.case_id,
                    entry.seq,
                    record.position,
                    f"stored under key {record.key[:40]!r}, not the entry's case id",
                )
            )
        self._by_case.setdefault(entry.case_id, []).append(
            _Checked(record.position, entry.seq, entry.hash, entry.prev_hash, entry_hash(entry))
        )

    def report(self, heads: Mapping[UUID, ChainHead] | None = None) -> VerificationReport:
        """Analyse every case chain added so far; ``heads`` as in ``verify``."""
        problems = list(self._problems)
        duplicates: list[Duplicate] = []
        found_heads: dict[UUID, ChainHead] = {}
        for case_id, checked in self._by_case.items():
            head = _verify_case(case_id, checked, problems, duplicates)
            if head is not None:
                found_heads[case_id] = head
        for case_id, known in (heads or {}).items():
            problems.extend(_against_head(known, self._by_case.get(case_id, [])))
        problems.sort(key=lambda p: (p.position is None, p.position.index if p.position else 0))
        return VerificationReport(self._count, tuple(problems), tuple(duplicates), found_heads)


def verify(
    records: Iterable[AuditEntry | LogRecord], *, heads: Mapping[UUID, ChainHead] | None = None
) -> VerificationReport:
    """Check every case chain in ``records`` (given in log order); name each problem.

    Names breaks (an entry altered, or not linked to its predecessor), gaps, reorderings,
    forks, corrupt or misplaced records, each with its position and seq; exact duplicates
    (redeliveries) are counted, not failed. ``heads`` are chain heads known from elsewhere
    (the writer's state, the index): without them, deleting a case's *last* entries cannot
    be seen, since nothing after them points back.
    """
    verifier = ChainVerifier()
    for item in records:
        verifier.add(item)
    return verifier.report(heads)


def _uuid_or_none(key: bytes | None) -> UUID | None:
    try:
        return UUID(key.decode()) if key else None
    except (ValueError, UnicodeDecodeError):
        return None


def _verify_case(
    case_id: UUID, checked: list[_Checked], problems: list[Problem], duplicates: list[Duplicate]
) -> ChainHead | None:
    def problem(kind: ProblemKind, item: _Checked, detail: str) -> None:
        problems.append(Problem(kind, case_id, item.seq, item.position, detail))

    slots: list[_Checked] = []  # the first record of each seq, in log order
    by_seq: dict[int, list[_Checked]] = {}
    linkable: list[_Checked] = []  # intact and not duplicates: their prev_hash is checked
    for item in checked:
        if not item.intact:
            problem(ProblemKind.BREAK, item, "hash does not match the entry's content")
        earlier = by_seq.get(item.seq)
        if earlier is None:
            by_seq[item.seq] = [item]
            slots.append(item)
            if item.intact:
                linkable.append(item)
            continue
        if not item.intact:
            earlier.append(item)
            continue
        same = next((e for e in earlier if e.intact and e.hash == item.hash), None)
        if same is not None:
            duplicates.append(Duplicate(case_id, item.seq, item.position, same.position))
            continue
        intact_earlier = [e for e in earlier if e.intact]
        if intact_earlier:
            problem(
                ProblemKind.FORK,
                item,
                f"a different entry already holds this seq at {intact_earlier[0].position}",
            )
        earlier.append(item)
        linkable.append(item)

    _reorderings(slots, problem)
    _gaps(case_id, slots, problems)
    for item in linkable:
        if item.seq == 0:
            if item.prev_hash != GENESIS_HASH:
                problem(ProblemKind.BREAK, item, "seq 0 does not start from the genesis hash")
            continue
        previous = by_seq.get(item.seq - 1)
        if previous is None:
            continue  # the gap is already named
        # A predecessor whose own hash field was altered is already a BREAK: link to its
        # content hash too, so one altered byte is named once, not twice.
        accepted = {h for p in previous for h in (p.hash, p.recomputed)}
        if item.prev_hash not in accepted:
            problem(
                ProblemKind.BREAK,
                item,
                f"prev_hash does not match the hash of seq {item.seq - 1} "
                f"at {previous[0].position}",
            )
    intact = [c for same_seq in by_seq.values() for c in same_seq if c.intact]
    if not intact:
        return None
    last = max(intact, key=lambda c: c.seq)
    return ChainHead(case_id=case_id, seq=last.seq, hash=last.hash)


def _reorderings(
    slots: list[_Checked], problem: Callable[[ProblemKind, _Checked, str], None]
) -> None:
    seqs = [s.seq for s in slots]
    if all(a < b for a, b in pairwise(seqs)):
        return
    keep = _longest_increasing(seqs)
    for index, item in enumerate(slots):
        if index in keep:
            continue
        before = [s for s in slots[:index] if s.seq > item.seq]
        if before:
            other = max(before, key=lambda s: s.seq)
            problem(ProblemKind.REORDER, item, f"stored after seq {other.seq} at {other.position}")
        else:
            after = [s for s in slots[index + 1 :] if s.seq < item.seq]
            other = min(after, key=lambda s: s.seq)
            problem(ProblemKind.REORDER, item, f"stored before seq {other.seq} at {other.position}")


def _longest_increasing(seqs: list[int]) -> set[int]:
    """Indices of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []
    tail_index: list[int] = []
    parent = [-1] * len(seqs)
    for index, seq in enumerate(seqs):
        rank = bisect_left(tails, seq)
        if rank == len(tails):
            tails.append(seq)
            tail_index.append(index)
        else:
            tails[rank] = seq
            tail_index[rank] = index
        parent[index] = tail_index[rank - 1] if rank else -1
    keep: set[int] = set()
    cursor = tail_index[-1] if tail_index else -1
    while cursor != -1:
        keep.add(cursor)
        cursor = parent[cursor]
    return keep


def _gaps(case_id: UUID, slots: list[_Checked], problems: list[Problem]) -> None:
    expected = 0
    for item in sorted((s for s in slots if s.seq >= 0), key=lambda s: s.seq):
        if item.seq > expected:
            missing = (
                f"seq {expected}"
                if item.seq == expected + 1
                else f"seqs {expected}..{item.seq - 1}"
            )
            problems.append(
                Problem(
                    ProblemKind.GAP,
                    case_id,
                    expected,
                    item.position,
                    f"{missing} missing before seq {item.seq}",
                )
            )
        expected = item.seq + 1


def _against_head(known: ChainHead, checked: list[_Checked]) -> list[Problem]:
    at_head = [c for c in checked if c.seq == known.seq]
    if any(c.hash == known.hash for c in at_head):
        return []  # the known head is there (its own integrity is judged by the chain)
    intact_at_head = [c for c in at_head if c.intact]
    if intact_at_head:
        return [
            Problem(
                ProblemKind.FORK,
                known.case_id,
                known.seq,
                intact_at_head[0].position,
                "entry differs from the known chain head",
            )
        ]
    if at_head:
        return []  # an altered entry holds the head's seq: already a BREAK
    last = max(checked, key=lambda c: c.seq, default=None)
    if last is not None and last.seq > known.seq:
        return []  # the log is ahead of the known head and the missing seq is a GAP
    ends = f"ends at seq {last.seq}" if last else "has no entry"
    return [
        Problem(
            ProblemKind.TRUNCATED,
            known.case_id,
            known.seq,
            last.position if last else None,
            f"the log {ends} but the known head is seq {known.seq}",
        )
    ]
