"""The coordination committee's monitoring figures (CNCDH Rec. 3-4), from decoded events and
audit entries (pure). docs/MONITORING.md defines each figure.

Two kinds of figure:

- **case figures** count the cases *opened* in the period (first report or referral, as the
  observatory): referrals by form of exploitation and by département over time, times from
  the report to the reasonable-grounds and to the conclusive decision, identification outcome;
- **activity figures** count what *happened* in the period, read from the audit trail (and
  the prefectures' answers): answer deadlines per agency kind, overdue answers, orphaned
  needs, consent holds, permits, reflection periods.

Every count is published through the observatory's small-cell rule (``hub.rules.disclosure``):
each table (rows x time buckets, or rows x columns) is suppressed as a whole, secondary
suppression included. A median or 90th percentile is published only when it is computed over
at least ``threshold`` values (hub policy: the same threshold; a median of two delays is one
person's delay). A share is published only when its numerator and denominator cells are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from uuid import UUID

from pydantic import BaseModel

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    IdentificationOutcome,
    avro_full_name,
)
from hub.contracts.events import (
    Acknowledgement,
    IdentificationDecision,
    PresumedVictimReport,
    ReferralOpened,
)
from hub.contracts.hub_records import AuditEntry
from hub.rules.answer_times import AnswerDeadline, answer_deadlines, percentile
from hub.rules.case_facts import PENDING, Period, by_case, identification
from hub.rules.disclosure import TOTAL, Cell, PublishedTable, suppress
from hub.rules.lifecycle import CaseStatus, Lifecycle, Moved

PERMIT_DELIVERED = "delivered fr.nrm.PermitRequested"
REFLECTION_STARTED = "recovery and reflection period started: récépissé delivered"
ORPHAN_RAISED = "orphaned need raised to operators"
HOLD_TIMED_OUT = "consent hold of "
REFUSAL_PREFIX = "refus"
"""A prefecture's COMPLETED whose detail starts so is a refusal (docs/DECISIONS.md)."""
WEEKLY_UP_TO_DAYS = 92
"""Periods up to this many days are bucketed by ISO week, longer ones by month (hub policy)."""

ON_TIME, LATE, UNANSWERED = "ON_TIME", "LATE", "UNANSWERED"
REQUESTED, RECEIPT, GRANTED, REFUSED = "REQUESTED", "RECEIPT", "GRANTED", "REFUSED"
HELD, RELEASED, TIMED_OUT = "HELD", "RELEASED", "TIMED_OUT"
OVERDUE, ORPHANED, REFLECTION = "OVERDUE", "ORPHANED", "REFLECTION_PERIOD"


@dataclass(frozen=True)
class Sent:
    """An accepted outbox event and the directory role of the agency proven to have sent it."""

    sender_role: AgencyRole
    event: BaseModel


@dataclass(frozen=True)
class Delay:
    """Days from one instant to another over ``n`` values; None where suppressed."""

    label: str
    n: int
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class Figures:
    """Everything the report and the dashboard page show, already suppressed."""

    period: Period
    threshold: int
    now: datetime
    buckets: tuple[str, ...]
    tables: Mapping[str, PublishedTable]
    delays: tuple[Delay, ...]
    share_identified: float | None


def bucket_of(at: datetime | date, weekly: bool) -> str:
    """``2026-W48`` (ISO week) or ``2026-11`` (month)."""
    day = at.date() if isinstance(at, datetime) else at
    if weekly:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def buckets(period: Period) -> tuple[tuple[str, ...], bool]:
    """Every bucket of a closed period, in order, and whether they are weeks."""
    assert period.since is not None
    assert period.until is not None
    weekly = (period.until - period.since).days <= WEEKLY_UP_TO_DAYS
    labels: list[str] = []
    day = period.since
    while day < period.until:
        label = bucket_of(day, weekly)
        if label not in labels:
            labels.append(label)
        day = date.fromordinal(day.toordinal() + 1)
    return tuple(labels), weekly


def days(seconds: float) -> float:
    """Seconds as days, rounded to a tenth."""
    return round(seconds / 86400, 1)


def delay(label: str, values: list[float], threshold: int) -> Delay:
    """Median and p90 (nearest rank) in days; both None under ``threshold`` values."""
    if len(values) < threshold:
        return Delay(label, len(values), None, None)
    p90 = percentile(values, 0.9)
    return Delay(label, len(values), days(median(values)), days(p90 or 0.0))


def published(name: str, counts: Mapping[Cell, int], threshold: int) -> PublishedTable:
    """A count table through the small-cell rule."""
    rows, cols, cells = suppress(counts, threshold)
    return PublishedTable(name, rows, cols, cells)


def timeline(
    counts: Counter[Cell], rows: Iterable[str], labels: tuple[str, ...]
) -> dict[Cell, int]:
    """Counts with an explicit 0 for every row and bucket (a quiet week is a cell too)."""
    return {(r, b): counts.get((r, b), 0) for r in rows for b in labels}


def conclusive_at(ordered: list[BaseModel], lifecycle: Lifecycle) -> datetime | None:
    """When the case was first decided, by the lifecycle's walk: an accepted
    IdentificationDecision IDENTIFIED or NOT_IDENTIFIED, or a move into IDENTIFIED (formal
    identification by a police or labour-inspectorate referral)."""
    status = CaseStatus.NEW
    for event in ordered:
        decided = event.outcome if isinstance(event, IdentificationDecision) else None
        moved = lifecycle.move(
            status, avro_full_name(type(event)), decided.value if decided else None
        )
        if not isinstance(moved, Moved):
            continue
        final = decided in (IdentificationOutcome.IDENTIFIED, IdentificationOutcome.NOT_IDENTIFIED)
        if final or moved.status in (CaseStatus.IDENTIFIED, CaseStatus.NOT_IDENTIFIED):
            at: datetime = event.envelope.occurred_at  # type: ignore[attr-defined]
            return at
        status = moved.status
    return None


def case_figures(
    events: Iterable[BaseModel],
    period: Period,
    labels: tuple[str, ...],
    weekly: bool,
    lifecycle: Lifecycle,
    threshold: int,
) -> tuple[dict[str, PublishedTable], list[Delay], float | None]:
    """Referrals by form and département over time, decision delays, identification."""
    forms: Counter[Cell] = Counter()
    places: Counter[Cell] = Counter()
    outcomes: Counter[Cell] = Counter()
    to_grounds: list[float] = []
    to_conclusive: list[float] = []
    for case_events in by_case(events).values():
        ordered = sorted(case_events, key=lambda e: e.envelope.occurred_at)  # type: ignore[attr-defined]
        sources = [e for e in ordered if isinstance(e, PresumedVictimReport | ReferralOpened)]
        if not sources:
            continue
        first = sources[0]
        assert isinstance(first, PresumedVictimReport | ReferralOpened)
        opened: datetime = first.envelope.occurred_at
        if not period.contains(opened):
            continue
        label = bucket_of(opened, weekly)
        for form in sorted({t.value for t in first.exploitation_types}) or ["UNKNOWN"]:
            forms[(form, label)] += 1
        places[(first.departement, label)] += 1
        outcomes[(identification(ordered, lifecycle), "CASES")] += 1
        if not isinstance(first, PresumedVictimReport):
            continue  # a referral opens identified: no decision delay to measure
        grounds = next(
            (
                e.envelope.occurred_at
                for e in ordered
                if isinstance(e, IdentificationDecision)
                and e.outcome is IdentificationOutcome.REASONABLE_GROUNDS
            ),
            None,
        )
        if grounds is not None:
            to_grounds.append((grounds - opened).total_seconds())
        conclusive = conclusive_at(ordered, lifecycle)
        if conclusive is not None:
            to_conclusive.append((conclusive - opened).total_seconds())
    form_rows = sorted({r for r, _ in forms})
    place_rows = sorted({r for r, _ in places})
    tables = {
        "referrals_by_form": published(
            "referrals_by_form", timeline(forms, form_rows, labels), threshold
        ),
        "referrals_by_departement": published(
            "referrals_by_departement", timeline(places, place_rows, labels), threshold
        ),
    }
    status_rows = (CaseStatus.IDENTIFIED.value, CaseStatus.NOT_IDENTIFIED.value, PENDING)
    identified = published(
        "identification",
        {(r, "CASES"): outcomes.get((r, "CASES"), 0) for r in status_rows},
        threshold,
    )
    tables["identification"] = identified
    yes = identified.cells.get((CaseStatus.IDENTIFIED.value, "CASES"))
    total = identified.cells.get((TOTAL, "CASES"))
    share = round(yes / total, 3) if yes is not None and total else None
    delays = [
        delay("report_to_reasonable_grounds", to_grounds, threshold),
        delay("report_to_conclusive", to_conclusive, threshold),
    ]
    return tables, delays, share


def agency_figures(
    deadlines: Iterable[AnswerDeadline],
    period: Period,
    now: datetime,
    kind_of: Callable[[str], AgencyRole | None],
    threshold: int,
) -> tuple[PublishedTable, list[Delay]]:
    """Per agency kind, the answer deadlines opened in the period: answered on time, late, or
    past due without an answer (deadlines not yet due and unanswered are left out: they can
    still be met); and the time to the first answer (median, p90)."""
    counts: Counter[Cell] = Counter()
    answered: dict[str, list[float]] = {}
    for d in deadlines:
        if not period.contains(d.opened_at):
            continue
        kind = (kind_of(d.recipient) or AgencyRole.UNKNOWN).value
        if d.answered_at is not None:
            answered.setdefault(kind, []).append((d.answered_at - d.opened_at).total_seconds())
        if d.due_at is None:
            continue
        if d.answered_at is not None:
            counts[(kind, ON_TIME if d.answered_at <= d.due_at else LATE)] += 1
        elif d.due_at < now:
            counts[(kind, UNANSWERED)] += 1
    kinds = sorted({k for k, _ in counts} | set(answered))
    table = published(
        "deadlines_by_agency_kind",
        {(k, c): counts.get((k, c), 0) for k in kinds for c in (ON_TIME, LATE, UNANSWERED)},
        threshold,
    )
    return table, [delay(f"ack:{k}", answered.get(k, []), threshold) for k in kinds]


def activity_timeline(
    entries: Iterable[AuditEntry],
    deadlines: Iterable[AnswerDeadline],
    sent: Iterable[Sent],
    period: Period,
    weekly: bool,
    now: datetime,
) -> dict[str, Counter[Cell]]:
    """Counts per bucket of what happened in the period: overdue answers (by their due
    instant, once it has passed), orphaned needs, consent holds, permits, reflection periods
    opened."""
    needs: Counter[Cell] = Counter()
    holds: Counter[Cell] = Counter()
    permits: Counter[Cell] = Counter()

    def add(counter: Counter[Cell], row: str, at: datetime) -> None:
        if period.contains(at):
            counter[(row, bucket_of(at, weekly))] += 1

    for d in deadlines:
        due = d.overdue_at()
        if due is not None and due <= now:  # not yet due: it can still be met
            add(needs, OVERDUE, due)
    for e in entries:
        decision = e.decision or ""
        if e.action is AuditAction.ESCALATED and decision == ORPHAN_RAISED:
            add(needs, ORPHANED, e.recorded_at)
        elif e.action is AuditAction.ESCALATED and decision.startswith(HOLD_TIMED_OUT):
            add(holds, TIMED_OUT, e.recorded_at)
        elif e.action is AuditAction.HELD:
            add(holds, HELD, e.recorded_at)
        elif e.action is AuditAction.RELEASED:
            add(holds, RELEASED, e.recorded_at)
        elif e.action is AuditAction.ROUTED and decision == PERMIT_DELIVERED:
            add(permits, REQUESTED, e.recorded_at)
        elif e.action is AuditAction.CASE_TRANSITION and decision == REFLECTION_STARTED:
            add(permits, REFLECTION, e.recorded_at)
    for s in sent:
        answer = s.event
        if s.sender_role is not AgencyRole.PREFECTURE or not isinstance(answer, Acknowledgement):
            continue
        at = answer.envelope.occurred_at
        if answer.status is AckStatus.ACCEPTED:
            add(permits, RECEIPT, at)
        elif answer.status is AckStatus.COMPLETED:
            refused = (answer.detail or "").strip().lower().startswith(REFUSAL_PREFIX)
            add(permits, REFUSED if refused else GRANTED, at)
    return {"needs": needs, "holds": holds, "permits": permits}


ACTIVITY_ROWS = {
    "needs": (OVERDUE, ORPHANED),
    "holds": (HELD, RELEASED, TIMED_OUT),
    "permits": (REQUESTED, RECEIPT, GRANTED, REFUSED, REFLECTION),
}


def figures(
    sent: Iterable[Sent],
    entries: Iterable[AuditEntry],
    period: Period,
    *,
    now: datetime,
    kind_of: Callable[[str], AgencyRole | None],
    lifecycle: Lifecycle,
    threshold: int,
) -> Figures:
    """Every figure of the period (``since`` and ``until`` both set), suppressed."""
    # At least once: a redelivered event (same id) or audit entry (same case and seq) counts once.
    sent = list({s.event.envelope.event_id: s for s in sent}.values())  # type: ignore[attr-defined]
    unique: dict[tuple[UUID, int], AuditEntry] = {}
    for e in entries:
        unique.setdefault((e.case_id, e.seq), e)  # the first read of an entry stands
    entries = [unique[key] for key in sorted(unique, key=lambda k: (str(k[0]), k[1]))]
    labels, weekly = buckets(period)
    tables, delays, share = case_figures(
        (s.event for s in sent), period, labels, weekly, lifecycle, threshold
    )
    deadlines = answer_deadlines(entries)
    by_kind, ack_delays = agency_figures(deadlines, period, now, kind_of, threshold)
    tables[by_kind.name] = by_kind
    for name, counts in activity_timeline(entries, deadlines, sent, period, weekly, now).items():
        tables[name] = published(name, timeline(counts, ACTIVITY_ROWS[name], labels), threshold)
    return Figures(
        period=period,
        threshold=threshold,
        now=now,
        buckets=labels,
        tables=tables,
        delays=(*delays, *ack_delays),
        share_identified=share,
    )
