"""Which closed cases the retention schedule shreds, read from their audit chains.

A case's closure is in its chain: a ``CASE_TRANSITION`` entry that closes it ("case closed", or
a lifecycle move "… → CLOSED"); a later transition to another status reopens it. A case closed
for at least the schedule's period (``deploy/config/retention.yaml``,
``personal_data_of_closed_cases``), and not already shredded (an ``ERASED`` entry after its
closure: erasure or an earlier run), is due: its key is destroyed and an ``ERASED`` entry
saying "expired under the retention schedule" is appended after the chain's head, so the chain
still verifies and replay says why the data is gone.

``CaseLife`` is a fold over a case's entries in log order, so a run over the whole audit topic
keeps a few fields per case, not the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from hub.audit.chain import ChainHead, entry_hash
from hub.contracts.enums import AuditAction, DataCategory
from hub.contracts.hub_records import (
    AuditEntry,
)

EXPIRED = "expired under the retention schedule"
"""The decision of the entry a retention run appends (what replay shows)."""
RETENTION_BASIS = "RGPD art. 5(1)(e)"
CLOSED_STATUS = "CLOSED"


@dataclass(frozen=True)
class CaseLife:
    """What a retention run needs to know of one case's chain."""

    case_id: UUID
    head: ChainHead | None = None
    closed_at: datetime | None = None
    shredded: bool = False
    categories: frozenset[DataCategory] = field(default_factory=frozenset)
    key_id: str | None = None
    """The key of the case's latest encrypted payload: the one to destroy."""

    def after(self, entry: AuditEntry) -> CaseLife:
        """The case's life once ``entry`` is read (entries of one case, in log order)."""
        life = self if entry.key_id is None else replace(self, key_id=entry.key_id)
        if entry_hash(entry) == entry.hash and (self.head is None or entry.seq > self.head.seq):
            life = replace(life, head=ChainHead.of(entry))
        categories = life.categories | {c for c in entry.categories if c != DataCategory.UNKNOWN}
        life = replace(life, categories=categories)
        if entry.action is AuditAction.ERASED:
            return replace(life, shredded=True)
        if entry.action is not AuditAction.CASE_TRANSITION:
            return life
        if closes(entry.decision):
            return life if life.closed_at else replace(life, closed_at=entry.recorded_at)
        return replace(life, closed_at=None)


def closes(decision: str | None) -> bool:
    """Whether a ``CASE_TRANSITION`` decision closes the case."""
    text = (decision or "").strip()
    return text == "case closed" or text.endswith(f"→ {CLOSED_STATUS}")


def lives(entries: Iterable[AuditEntry]) -> dict[UUID, CaseLife]:
    """Every case's life from its entries (any order of cases, log order within one)."""
    found: dict[UUID, CaseLife] = {}
    for entry in entries:
        life = found.get(entry.case_id) or CaseLife(entry.case_id)
        found[entry.case_id] = life.after(entry)
    return found


@dataclass(frozen=True)
class Due:
    """A case the schedule shreds now: closed at ``closed_at``, its chain's head."""

    case_id: UUID
    closed_at: datetime
    head: ChainHead | None
    categories: frozenset[DataCategory]
    key_id: str | None


def due_for_shredding(
    cases: Mapping[UUID, CaseLife], now: datetime, period: timedelta
) -> list[Due]:
    """The cases closed for at least ``period`` at ``now`` and not shredded yet, oldest
    closure first."""
    due = [
        Due(life.case_id, life.closed_at, life.head, life.categories, life.key_id)
        for life in cases.values()
        if life.closed_at is not None and not life.shredded and now - life.closed_at >= period
    ]
    return sorted(due, key=lambda d: (d.closed_at, str(d.case_id)))


def keys_to_finish(cases: Mapping[UUID, CaseLife]) -> list[CaseLife]:
    """The cases whose chain says their data is shredded (an ``ERASED`` entry) and whose
    key the chain names: if that key still exists, a run stopped between writing the entry and
    destroying the key, and the next run finishes the job."""
    return sorted(
        (life for life in cases.values() if life.shredded and life.key_id is not None),
        key=lambda life: str(life.case_id),
    )
