"""Verification of stored audit chains: decoding stored records, and naming every entry the
hub did not sign, break, gap, reordering, fork, corrupt or misplaced record and truncation,
with its position.

Pure, like ``hub.audit.chain``: records come in, in log order, and a report goes out;
``ChainVerifier`` keeps a few small fields per entry (no payloads), so a whole topic can be
verified as it is read. Whether the hub signed a record is a ``hub.audit.proof.ProofCheck``
passed to ``decode_record``; an entry it does not prove is named ``UNPROVEN`` and left out of
the chain, as if it had never been written.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from uuid import UUID

from hub.audit.chain import GENESIS_HASH, ChainHead, entry_hash
from hub.audit.log_record import LogRecord, Position, ProblemKind
from hub.audit.proof import ProofState
from hub.contracts.hub_records import (
    AuditEntry,
)

# ------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Problem:
    """One failure, with where it is."""

    kind: ProblemKind
    case_id: UUID | None
    seq: int | None
    position: Position | None
    detail: str


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
    proven: int = 0
    """How many records carry a signature of the hub that verifies."""

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
        self._unproven: dict[UUID, set[bytes]] = {}
        self._count = 0
        self._proven = 0

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
        recomputed = entry_hash(entry)
        misplaced = record.key is not None and record.key != str(entry.case_id).encode()
        if record.proof.refused and not (record.error or misplaced or recomputed != entry.hash):
            # Not the hub's, yet nothing else is wrong with it (a forgery with a valid hash):
            # named once, and kept out of the chain, as if never written. An altered or moved
            # entry fails its signature too, but BREAK, CORRUPT or MISPLACED says why.
            self._problems.append(
                Problem(
                    ProblemKind.UNPROVEN,
                    entry.case_id,
                    entry.seq,
                    record.position,
                    f"non signée par le hub : {record.proof.detail or 'sans détail'}",
                )
            )
            self._unproven.setdefault(entry.case_id, set()).add(entry.hash)
            return
        if record.proof.state is ProofState.PROVEN:
            self._proven += 1
        if record.error:
            self._problems.append(
                Problem(record.error_kind, entry.case_id, entry.seq, record.position, record.error)
            )
        if misplaced:
            self._problems.append(
                Problem(
                    ProblemKind.MISPLACED,
                    entry.case_id,
                    entry.seq,
                    record.position,
                    f"rangée sous la clé {(record.key or b'')[:40]!r}, "
                    "pas sous l'id du dossier de l'entrée",
                )
            )
        self._by_case.setdefault(entry.case_id, []).append(
            _Checked(record.position, entry.seq, entry.hash, entry.prev_hash, recomputed)
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
            if known.hash in self._unproven.get(case_id, ()):
                continue  # a head learnt from an entry the hub did not sign: already UNPROVEN
            problems.extend(_against_head(known, self._by_case.get(case_id, [])))
        problems.sort(key=lambda p: (p.position is None, p.position.index if p.position else 0))
        return VerificationReport(
            self._count, tuple(problems), tuple(duplicates), found_heads, proven=self._proven
        )


def verify(
    records: Iterable[AuditEntry | LogRecord], *, heads: Mapping[UUID, ChainHead] | None = None
) -> VerificationReport:
    """Check every case chain in ``records`` (given in log order); name each problem.

    Names entries the hub did not sign (UNPROVEN: see ``decode_record``), breaks (an entry
    altered, or not linked to its predecessor), gaps, reorderings, forks, corrupt or
    misplaced records, each with its position and seq; exact duplicates
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
            problem(ProblemKind.BREAK, item, "le hash ne correspond pas au contenu de l'entrée")
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
                f"une autre entrée porte déjà ce numéro ({intact_earlier[0].position})",
            )
        earlier.append(item)
        linkable.append(item)

    _reorderings(slots, problem)
    _gaps(case_id, slots, problems)
    for item in linkable:
        if item.seq == 0:
            if item.prev_hash != GENESIS_HASH:
                problem(ProblemKind.BREAK, item, "l'entrée 0 ne part pas du hash de genèse")
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
                f"prev_hash ne correspond pas au hash de l'entrée {item.seq - 1} "
                f"({previous[0].position})",
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
            problem(
                ProblemKind.REORDER, item, f"rangée après l'entrée {other.seq} ({other.position})"
            )
        else:
            after = [s for s in slots[index + 1 :] if s.seq < item.seq]
            other = min(after, key=lambda s: s.seq)
            problem(
                ProblemKind.REORDER, item, f"rangée avant l'entrée {other.seq} ({other.position})"
            )


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
                f"entrée {expected}"
                if item.seq == expected + 1
                else f"entrées {expected}..{item.seq - 1}"
            )
            problems.append(
                Problem(
                    ProblemKind.GAP,
                    case_id,
                    expected,
                    item.position,
                    f"{missing} manquante(s) avant l'entrée {item.seq}",
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
                "l'entrée diffère de la tête de chaîne connue",
            )
        ]
    if at_head:
        return []  # an altered entry holds the head's seq: already a BREAK
    last = max(checked, key=lambda c: c.seq, default=None)
    if last is not None and last.seq > known.seq:
        return []  # the log is ahead of the known head and the missing seq is a GAP
    ends = f"s'arrête à l'entrée {last.seq}" if last else "n'a aucune entrée"
    return [
        Problem(
            ProblemKind.TRUNCATED,
            known.case_id,
            known.seq,
            last.position if last else None,
            f"le journal {ends} mais la tête connue est l'entrée {known.seq}",
        )
    ]
