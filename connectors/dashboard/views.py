"""What each table of the dashboard shows: pure functions from the read model's data to rows.

Every row carries the French text shown to people and the raw values given to scripts
(``/api/apercu``). Nothing here reads a clock or a topic: ``now`` is passed in, the same
simulated or wall clock the workers use (``HUB_CLOCK_*``), so "late by" agrees with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from connectors.dashboard import french
from connectors.dashboard.ack_times import AckTimes
from connectors.dashboard.read_model import DeadLetterItem
from hub.contracts.events import OrphanedNeed
from hub.contracts.topics import agency_of_outbox
from hub.flow.case_state import CaseState
from hub.rules.deadlines.open_deadline import OpenDeadline, overdue
from hub.rules.directory import Directory


@dataclass(frozen=True)
class OverdueRow:
    """A request whose answer is late."""

    case_id: str
    case_short: str
    request_id: str
    recipient: str
    recipient_name: str
    role: str
    departement: str
    need: str
    urgency: str
    minor: bool
    due_at: str
    due_text: str
    late_by_seconds: int
    late_text: str
    step: str | None
    step_text: str
    orphaned: bool
    next_step_text: str


@dataclass(frozen=True)
class HoldRow:
    """A message held until consent covers what its recipient requires."""

    case_id: str
    case_short: str
    subject: str
    subject_text: str
    sender: str
    recipient: str
    recipient_name: str
    role: str
    missing: list[str]
    missing_text: str
    held_at: str
    held_text: str
    age_seconds: int
    age_text: str
    escalated: bool


@dataclass(frozen=True)
class OrphanRow:
    """A case need nobody acts on."""

    case_id: str
    case_short: str
    request_id: str
    need: str
    need_text: str
    reason: str
    reason_text: str
    message_type: str
    departement: str
    declined_by: list[str]
    raised_at: str
    raised_text: str


@dataclass(frozen=True)
class DeadLetterRow:
    """A record the hub refused, with what an operator needs to judge a re-drive."""

    dead_letter_id: str
    occurred_at: str
    occurred_text: str
    reason: str
    reason_text: str
    detail: str
    source: str
    source_agency: str | None
    case_id: str | None
    case_short: str | None
    claimed_sender: str | None
    original_bytes: int
    redrive_refusal: str | None
    """Why « Relancer » is not offered (hub/rules/redrive.py), or None when it is."""


@dataclass(frozen=True)
class AgencyRow:
    """One agency of the directory with its answer times and what it owes."""

    agency_id: str
    name: str
    role: str
    role_text: str
    area: str
    accepting: bool
    accepting_text: str
    capacity: int | None
    answered: int
    median_s: float | None
    median_text: str
    p90_s: float | None
    p90_text: str
    open_requests: int
    overdue: int


def short(case_id: UUID | str) -> str:
    """The first 8 characters of a case id (what people read and say)."""
    return str(case_id)[:8]


def _name(directory: Directory, agency_id: str) -> str:
    agency = directory.get(agency_id)
    return agency.name if agency is not None else agency_id


def open_deadlines(states: Iterable[CaseState]) -> list[OpenDeadline]:
    """Every open deadline of every case."""
    return [d for state in states for d in state.open_deadlines()]


def overdue_rows(
    states: Iterable[CaseState], now: datetime, directory: Directory
) -> list[OverdueRow]:
    """The requests past due at ``now``, the latest answer first."""
    rows = []
    for d in overdue(open_deadlines(states), now):
        last = d.last_step
        if last is None:
            step_text = "Aucune relance encore"
        else:
            step_text = french.label(french.LADDER_STEPS, last)
            if d.exhausted:
                step_text += " (besoin orphelin)"
        next_at = d.next_at
        next_text = (
            "—"
            if next_at is None or d.exhausted
            else f"{french.label(french.LADDER_STEPS, d.steps[d.next_step])} le "
            f"{french.format_datetime(next_at)}"
        )
        late = d.late_by(now)
        rows.append(
            OverdueRow(
                case_id=str(d.case_id),
                case_short=short(d.case_id),
                request_id=str(d.request_id),
                recipient=d.recipient_agency,
                recipient_name=_name(directory, d.recipient_agency),
                role=french.label(french.ROLES, d.recipient_role),
                departement=d.departement,
                need=french.label(french.MESSAGE_TYPES, d.message_type),
                urgency=french.label(french.URGENCIES, d.urgency),
                minor=d.minor,
                due_at=d.due_at.isoformat(),
                due_text=french.format_datetime(d.due_at),
                late_by_seconds=int(late.total_seconds()),
                late_text=french.late_by(late),
                step=None if last is None else last.value,
                step_text=step_text,
                orphaned=d.exhausted,
                next_step_text=next_text,
            )
        )
    return rows


def hold_rows(states: Iterable[CaseState], now: datetime, directory: Directory) -> list[HoldRow]:
    """Every held message, the longest held first."""
    rows = []
    for state in states:
        for held in state.holds:
            age = now - held.held_at
            missing = sorted(c.value for c in held.missing)
            rows.append(
                HoldRow(
                    case_id=str(state.case_id),
                    case_short=short(state.case_id),
                    subject=held.subject,
                    subject_text=french.label(french.MESSAGE_TYPES, held.subject),
                    sender=held.sender,
                    recipient=held.recipient,
                    recipient_name=_name(directory, held.recipient),
                    role=french.label(french.ROLES, held.role),
                    missing=missing,
                    missing_text=", ".join(
                        french.label(french.DATA_CATEGORIES, m) for m in missing
                    ),
                    held_at=held.held_at.isoformat(),
                    held_text=french.format_datetime(held.held_at),
                    age_seconds=max(0, int(age.total_seconds())),
                    age_text=french.held_for(age),
                    escalated=held.escalated,
                )
            )
    rows.sort(key=lambda r: (-r.age_seconds, r.case_id))
    return rows


def orphan_rows(orphans: Iterable[OrphanedNeed]) -> list[OrphanRow]:
    """Unresolved orphaned needs, oldest first."""
    return [
        OrphanRow(
            case_id=str(o.envelope.case_id),
            case_short=short(o.envelope.case_id),
            request_id=str(o.request_id),
            need=o.need.value,
            need_text=french.label(french.NEEDS, o.need),
            reason=o.reason.value,
            reason_text=french.label(french.ORPHAN_REASONS, o.reason),
            message_type=o.message_type,
            departement=o.departement,
            declined_by=list(o.declined_by),
            raised_at=o.envelope.occurred_at.isoformat(),
            raised_text=french.format_datetime(o.envelope.occurred_at),
        )
        for o in orphans
        if not o.resolved
    ]


def dead_letter_rows(letters: Iterable[DeadLetterItem]) -> list[DeadLetterRow]:
    """Dead letters as listed (the caller has removed the re-driven ones)."""
    return [
        DeadLetterRow(
            dead_letter_id=str(d.dead_letter_id),
            occurred_at=d.occurred_at.isoformat(),
            occurred_text=french.format_datetime(d.occurred_at),
            reason=d.reason,
            reason_text=french.label(french.DEAD_LETTER_REASONS, d.reason),
            detail=d.detail,
            source=f"{d.source_topic}[{d.source_partition}]@{d.source_offset}",
            source_agency=agency_of_outbox(d.source_topic),
            case_id=str(d.case_id) if d.case_id else None,
            case_short=short(d.case_id) if d.case_id else None,
            claimed_sender=d.claimed_sender,
            original_bytes=d.original_bytes,
            redrive_refusal=d.redrive_refusal,
        )
        for d in letters
    ]


def agency_rows(
    directory: Directory, states: Iterable[CaseState], ack_times: AckTimes, now: datetime
) -> list[AgencyRow]:
    """Every agency of the directory, by role then name."""
    deadlines = open_deadlines(states)
    open_by = Counter(d.recipient_agency for d in deadlines)
    late_by = Counter(d.recipient_agency for d in deadlines if d.is_overdue(now))
    rows = []
    for agency in sorted(directory, key=lambda a: (a.role.value, a.name)):
        summary = ack_times.summary(agency.id)
        area = "National" if agency.national else ", ".join(agency.departements) or "—"
        rows.append(
            AgencyRow(
                agency_id=agency.id,
                name=agency.name,
                role=agency.role.value,
                role_text=french.label(french.ROLES, agency.role),
                area=area,
                accepting=agency.accepting,
                accepting_text="Oui" if agency.accepting else "Non",
                capacity=agency.capacity,
                answered=summary.answered,
                median_s=summary.median_s,
                median_text=french.format_seconds(summary.median_s),
                p90_s=summary.p90_s,
                p90_text=french.format_seconds(summary.p90_s),
                open_requests=open_by.get(agency.id, 0),
                overdue=late_by.get(agency.id, 0),
            )
        )
    return rows


def as_json(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts."""
    return [asdict(row) for row in rows]
