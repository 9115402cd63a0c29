"""The data-subject report: "who received what about me, when, and on what basis".

Built from the entries' metadata alone, so it still works after erasure. Only an entry that
records personal data leaving (``kind_of``: a delivery with its categories and basis) is a
disclosure; withdrawal notices, deadline entries and escalations are notices, listed apart.
A stored entry the hub did not sign is left out (``hub.audit.replay.believed``). The terminal
rendering is in ``hub/cli/render_audit.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from hub.audit.log_record import LogRecord
from hub.audit.replay import LeftOut, believed, left_out
from hub.contracts.enums import AuditAction, DataCategory, LawfulBasis
from hub.contracts.hub_records import (
    AuditEntry,
)

CONSENT_PREFIX = "consent:"
DISCLOSING_ACTIONS = frozenset({AuditAction.ROUTED, AuditAction.DELIVERED, AuditAction.RELEASED})
"""Actions whose recipient may have received personal data (see ``kind_of``)."""
NOTICE_ACTIONS = DISCLOSING_ACTIONS | {AuditAction.ESCALATED}
"""Actions that, without personal data, tell an agency something about the case."""


# ------------------------------------------------------------------------- subject report


class BasisKind(StrEnum):
    """What a disclosure relied on."""

    CONSENT = "CONSENT"
    LEGAL_EXCEPTION = "LEGAL_EXCEPTION"
    NONE_RECORDED = "NONE_RECORDED"


@dataclass(frozen=True)
class Disclosure:
    """One disclosure of the subject's data to an agency."""

    seq: int
    recorded_at: datetime
    action: AuditAction
    recipient: str
    categories: tuple[DataCategory, ...]
    legal_basis: str | None
    basis_kind: BasisKind
    consent_id: UUID | None
    lawful_bases: tuple[LawfulBasis, ...] = ()
    """GDPR / LED bases recorded with the disclosure (empty in entries before AuditEntry v2)."""


@dataclass(frozen=True)
class RecipientSummary:
    """Everything one agency received about the subject."""

    recipient: str
    categories: tuple[DataCategory, ...]
    first_at: datetime
    last_at: datetime
    bases: tuple[str, ...]
    disclosures: int
    lawful_bases: tuple[LawfulBasis, ...] = ()


@dataclass(frozen=True)
class SubjectReport:
    """The data-subject report of one case (GDPR art. 15: recipients and their basis)."""

    case_id: UUID
    entries: int
    disclosures: tuple[Disclosure, ...]
    recipients: tuple[RecipientSummary, ...]
    erased_at: datetime | None
    left_out: tuple[LeftOut, ...] = ()
    """Stored entries not signed by the hub: neither counted nor shown as disclosures."""
    notices: tuple[Notice, ...] = ()
    """What agencies were told without personal data (withdrawal notices, deadlines, ...)."""


class EntryKind(StrEnum):
    """What an entry naming a recipient says about the subject's data."""

    DISCLOSURE = "DISCLOSURE"
    """Personal data went to the recipient: categories present, on a recorded basis."""
    NOTICE = "NOTICE"
    """The recipient was told something, with no personal data: a withdrawal notice, a
    deadline opened on it, an escalation, a routing step, a message without personal data."""


def kind_of(entry: AuditEntry) -> EntryKind | None:
    """Whether ``entry`` disclosed personal data, was a notice, or neither (None).

    Decided from the entry's fields, never its wording. A disclosure is a disclosing action
    (ROUTED, DELIVERED, RELEASED) to a recipient that records both the categories that left
    and the basis they left on: the hub records ``Deliver.basis`` and the categories present
    in the projected record on every delivery (``hub.flow.delivery.routed``). A withdrawal
    notice records the categories it concerns but no basis (nothing was shared on one); a
    "deadline opened", a transfer or a re-route records neither; an escalation is never a
    disclosure. Those are notices."""
    if entry.recipient is None or entry.action not in NOTICE_ACTIONS:
        return None
    if entry.action in DISCLOSING_ACTIONS and entry.categories and entry.legal_basis:
        return EntryKind.DISCLOSURE
    return EntryKind.NOTICE


@dataclass(frozen=True)
class Notice:
    """Something an agency was told about the case without receiving personal data."""

    seq: int
    recorded_at: datetime
    action: AuditAction
    recipient: str
    what: str | None
    reason: str | None
    concerns: tuple[DataCategory, ...]
    """The categories a withdrawal notice is about (named, not sent)."""


def basis_of(legal_basis: str | None) -> tuple[BasisKind, UUID | None]:
    """Classify a ``legal_basis``: ``consent:<uuid>``, a named legal exception, or nothing."""
    if not legal_basis:
        return BasisKind.NONE_RECORDED, None
    if legal_basis.startswith(CONSENT_PREFIX):
        try:
            return BasisKind.CONSENT, UUID(legal_basis[len(CONSENT_PREFIX) :])
        except ValueError:
            return BasisKind.CONSENT, None
    return BasisKind.LEGAL_EXCEPTION, None


def subject_report(case_id: UUID, entries: Iterable[AuditEntry | LogRecord]) -> SubjectReport:
    """Which agency received which categories, when and on what basis, from the entries.

    Disclosures and notices are told apart by ``kind_of``: only an entry that records the
    categories that left and their basis is a disclosure; withdrawal notices, deadlines and
    escalations are listed apart as notices. Needs no key, so an erased case still has its
    report (erasure removes the data, not the record of sharing). A stored record the hub
    did not sign is neither: it is listed in ``left_out``.
    """
    items = list(entries)
    unique = {(e.seq, e.hash): e for e, _ in believed(items) if e.case_id == case_id}
    ordered = sorted(unique.values(), key=lambda e: e.seq)
    disclosures: list[Disclosure] = []
    notices: list[Notice] = []
    erased_at: datetime | None = None
    for entry in ordered:
        if entry.action is AuditAction.ERASED and erased_at is None:
            erased_at = entry.recorded_at
        kind = kind_of(entry)
        if kind is None or entry.recipient is None:
            continue
        if kind is EntryKind.NOTICE:
            notices.append(
                Notice(
                    seq=entry.seq,
                    recorded_at=entry.recorded_at,
                    action=entry.action,
                    recipient=entry.recipient,
                    what=entry.decision,
                    reason=entry.reason,
                    concerns=tuple(entry.categories),
                )
            )
            continue
        basis_kind, consent_id = basis_of(entry.legal_basis)
        disclosures.append(
            Disclosure(
                seq=entry.seq,
                recorded_at=entry.recorded_at,
                action=entry.action,
                recipient=entry.recipient,
                categories=tuple(entry.categories),
                legal_basis=entry.legal_basis,
                basis_kind=basis_kind,
                consent_id=consent_id,
                lawful_bases=tuple(entry.lawful_bases),
            )
        )
    return SubjectReport(
        case_id=case_id,
        entries=len(ordered),
        disclosures=tuple(disclosures),
        recipients=_summaries(disclosures),
        erased_at=erased_at,
        left_out=tuple(o for o in left_out(items) if o.case_id == case_id),
        notices=tuple(notices),
    )


def _summaries(disclosures: list[Disclosure]) -> tuple[RecipientSummary, ...]:
    grouped: dict[str, list[Disclosure]] = {}
    for disclosure in disclosures:
        grouped.setdefault(disclosure.recipient, []).append(disclosure)
    order = list(DataCategory)
    summaries = []
    for recipient, items in sorted(grouped.items()):
        categories = {c for d in items for c in d.categories}
        bases = dict.fromkeys(d.legal_basis or BasisKind.NONE_RECORDED.value for d in items)
        summaries.append(
            RecipientSummary(
                recipient=recipient,
                categories=tuple(sorted(categories, key=order.index)),
                first_at=min(d.recorded_at for d in items),
                last_at=max(d.recorded_at for d in items),
                bases=tuple(bases),
                disclosures=len(items),
                lawful_bases=tuple(
                    sorted({b for d in items for b in d.lawful_bases}, key=list(LawfulBasis).index)
                ),
            )
        )
    return tuple(summaries)


def _tags(categories: Iterable[DataCategory]) -> list[str]:
    return [category.tag for category in categories]


def subject_report_json(report: SubjectReport) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    return {
        "case_id": str(report.case_id),
        "entries": report.entries,
        "erased_at": report.erased_at.isoformat() if report.erased_at else None,
        "left_out": [
            {"seq": o.seq, "position": str(o.position), "reason": f"UNPROVEN: {o.detail}"}
            for o in report.left_out
        ],
        "recipients": [
            {
                "recipient": s.recipient,
                "categories": _tags(s.categories),
                "first_at": s.first_at.isoformat(),
                "last_at": s.last_at.isoformat(),
                "bases": list(s.bases),
                "lawful_bases": [b.value for b in s.lawful_bases],
                "disclosures": s.disclosures,
            }
            for s in report.recipients
        ],
        "disclosures": [
            {
                "seq": d.seq,
                "recorded_at": d.recorded_at.isoformat(),
                "action": d.action.value,
                "recipient": d.recipient,
                "categories": _tags(d.categories),
                "legal_basis": d.legal_basis,
                "basis_kind": d.basis_kind.value,
                "consent_id": str(d.consent_id) if d.consent_id else None,
                "lawful_bases": [b.value for b in d.lawful_bases],
            }
            for d in report.disclosures
        ],
        "notices": [
            {
                "seq": n.seq,
                "recorded_at": n.recorded_at.isoformat(),
                "action": n.action.value,
                "recipient": n.recipient,
                "what": n.what,
                "reason": n.reason,
                "concerns": _tags(n.concerns),
                "personal_data_shared": False,
            }
            for n in report.notices
        ],
    }
