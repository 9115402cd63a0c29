"""What an auditor reads from a case's audit entries: its timeline and the data-subject report.

``timeline`` orders a case's entries by seq (dropping exact redeliveries) and decrypts each
payload with the case key, or marks it ``ERASED`` when the key is gone. ``redact`` keeps only
the data categories a role may see, per a role → categories mapping derived from the consent
policy (``deploy/config/consent.yaml``). ``subject_report`` answers the data subject's
question, "who received what about me, when, and on what basis", from the entries' metadata
alone, so it still works after erasure. Both leave out a stored entry the hub did not sign
(``LogRecord.believed``; ``hub.audit.verify`` names it UNPROVEN): a forged entry is never shown
as a step of the case or as a disclosure. The JSON forms are here; the terminal rendering is in
``hub/cli/render_audit.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from hub.audit.keys import KeyStore, PayloadUnreadableError, decrypt_payload
from hub.audit.log_record import LogRecord, Position
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.events import AuditEntry
from hub.rules.consent import ALL_CATEGORIES, ConsentPolicy

CONSENT_PREFIX = "consent:"
DISCLOSING_ACTIONS = frozenset({AuditAction.ROUTED, AuditAction.DELIVERED, AuditAction.RELEASED})
"""Actions whose recipient may have received personal data (see ``kind_of``)."""
NOTICE_ACTIONS = DISCLOSING_ACTIONS | {AuditAction.ESCALATED}
"""Actions that, without personal data, tell an agency something about the case."""


class PayloadState(StrEnum):
    """What became of an entry's personal payload when it was replayed."""

    NONE = "NONE"
    """The entry carried no personal data."""
    CLEAR = "CLEAR"
    """Decrypted with the case key."""
    ERASED = "ERASED"
    """The case key is destroyed (erasure): the data can never be read again."""
    UNREADABLE = "UNREADABLE"
    """The key exists but the ciphertext does not authenticate (altered)."""


@dataclass(frozen=True)
class TimelineRow:
    """One step of a case's history, with its personal data decrypted, erased or redacted."""

    seq: int
    recorded_at: datetime
    actor: str
    actor_role: AgencyRole
    action: AuditAction
    decision: str | None
    reason: str | None
    legal_basis: str | None
    recipient: str | None
    categories: tuple[DataCategory, ...]
    event_id: UUID | None
    payload: dict[str, Any] | None
    payload_state: PayloadState
    position: Position | None = None


def timeline(records: Iterable[AuditEntry | LogRecord], key_store: KeyStore) -> list[TimelineRow]:
    """A case's rows in seq order; exact duplicates (same seq and hash) appear once.

    Undecodable records and entries the hub did not sign are skipped here:
    ``hub.audit.verify.verify`` is what names them.
    """
    seen: set[tuple[int, bytes]] = set()
    located: list[tuple[AuditEntry, Position | None]] = []
    for entry, position in believed(records):
        if (entry.seq, entry.hash) in seen:
            continue
        seen.add((entry.seq, entry.hash))
        located.append((entry, position))
    located.sort(key=lambda pair: (pair[0].seq, pair[1].index if pair[1] else 0))
    keys: dict[str, bytes | None] = {}
    return [_row(entry, position, key_store, keys) for entry, position in located]


def believed(
    records: Iterable[AuditEntry | LogRecord],
) -> Iterator[tuple[AuditEntry, Position | None]]:
    """The entries a reader may show, with their position: a plain entry as given (the caller
    vouches for it), a stored record only when it decodes and the hub's signature is not
    refused."""
    for item in records:
        if not isinstance(item, LogRecord):
            yield item, None
        elif item.believed and item.entry is not None:
            yield item.entry, item.position


def left_out(records: Iterable[AuditEntry | LogRecord]) -> tuple[LeftOut, ...]:
    """The stored entries a reader leaves out because the hub did not sign them."""
    return tuple(
        LeftOut(item.entry.case_id, item.entry.seq, item.position, item.proof.detail or "")
        for item in records
        if isinstance(item, LogRecord) and item.entry is not None and item.proof.refused
    )


@dataclass(frozen=True)
class LeftOut:
    """An entry a reader did not believe (not signed by the hub): where it is, and why."""

    case_id: UUID
    seq: int
    position: Position
    detail: str


def _row(
    entry: AuditEntry,
    position: Position | None,
    key_store: KeyStore,
    keys: dict[str, bytes | None],
) -> TimelineRow:
    payload: dict[str, Any] | None = None
    state = PayloadState.NONE
    if entry.payload_ciphertext is not None:
        key_id = entry.key_id or ""
        if key_id not in keys:
            keys[key_id] = key_store.get(key_id) if key_id else None
        key = keys[key_id]
        if key is None:
            state = PayloadState.ERASED
        else:
            try:
                payload = decrypt_payload(
                    key, entry.payload_ciphertext, case_id=entry.case_id, seq=entry.seq
                )
                state = PayloadState.CLEAR
            except PayloadUnreadableError:
                state = PayloadState.UNREADABLE
    return TimelineRow(
        seq=entry.seq,
        recorded_at=entry.recorded_at,
        actor=entry.actor,
        actor_role=entry.actor_role,
        action=entry.action,
        decision=entry.decision,
        reason=entry.reason,
        legal_basis=entry.legal_basis,
        recipient=entry.recipient,
        categories=tuple(entry.categories),
        event_id=entry.event_id,
        payload=payload,
        payload_state=state,
        position=position,
    )


# ------------------------------------------------------------------------- role redaction


AUDITING_ROLES = frozenset({AgencyRole.NATIONAL_COORDINATION})
"""Roles that audit cases (national coordination, the rapporteur): they see every category."""


class AuditVisibility(BaseModel, frozen=True):
    """Which data categories each role may see when replaying a case; unlisted roles see none.

    Derived from the consent policy (``consent.yaml``), so a replay ``--as ROLE`` shows a role
    what the hub may ever share with it, never more: one source of truth for minimisation.
    """

    roles: dict[AgencyRole, frozenset[DataCategory]]

    def allowed(self, role: AgencyRole) -> frozenset[DataCategory]:
        """The categories ``role`` may see (none when the role is not listed)."""
        return self.roles.get(role, frozenset())

    @classmethod
    def from_policy(cls, policy: ConsentPolicy) -> AuditVisibility:
        """Each role sees the union of what it needs across message types (required and
        optional); auditing roles see everything."""
        roles: dict[AgencyRole, frozenset[DataCategory]] = {}
        for need in policy.needs:
            roles[need.recipient_role] = (
                roles.get(need.recipient_role, frozenset()) | need.required | need.optional
            )
        for role in AUDITING_ROLES:
            roles[role] = ALL_CATEGORIES
        return cls(roles=roles)


def redact(rows: Iterable[TimelineRow], allowed: Collection[DataCategory]) -> list[TimelineRow]:
    """The rows as a role allowed ``allowed`` categories sees them.

    Categories outside ``allowed`` are dropped from each payload *and* from each row's
    category list: knowing that health data was shared is itself health information.
    """
    visible = frozenset(allowed)
    tags = {category.tag for category in visible}
    redacted: list[TimelineRow] = []
    for row in rows:
        payload = (
            {tag: data for tag, data in row.payload.items() if tag in tags}
            if row.payload is not None
            else None
        )
        redacted.append(
            replace(
                row,
                categories=tuple(c for c in row.categories if c in visible),
                payload=payload,
            )
        )
    return redacted


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


@dataclass(frozen=True)
class RecipientSummary:
    """Everything one agency received about the subject."""

    recipient: str
    categories: tuple[DataCategory, ...]
    first_at: datetime
    last_at: datetime
    bases: tuple[str, ...]
    disclosures: int


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
            )
        )
    return tuple(summaries)


# ------------------------------------------------------------------------- JSON


def _tags(categories: Iterable[DataCategory]) -> list[str]:
    return [category.tag for category in categories]


def _payload_json(row: TimelineRow) -> Any:
    if row.payload_state in (PayloadState.ERASED, PayloadState.UNREADABLE):
        return row.payload_state.value
    return row.payload


def timeline_json(rows: Iterable[TimelineRow]) -> list[dict[str, Any]]:
    """The rows as JSON-able dicts; an erased payload is the string ``"ERASED"``."""
    return [
        {
            "seq": row.seq,
            "recorded_at": row.recorded_at.isoformat(),
            "actor": row.actor,
            "actor_role": row.actor_role.value,
            "action": row.action.value,
            "decision": row.decision,
            "reason": row.reason,
            "legal_basis": row.legal_basis,
            "recipient": row.recipient,
            "categories": _tags(row.categories),
            "event_id": str(row.event_id) if row.event_id else None,
            "payload": _payload_json(row),
            "payload_state": row.payload_state.value,
            "position": str(row.position) if row.position else None,
        }
        for row in rows
    ]


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
