"""Decisions on the answers to an open deadline: the recipient's acknowledgement or an
identification decision closes, extends or re-routes it; a re-route opens a fresh deadline
for the next eligible agency, or raises an orphaned need when none is left."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    DeadLetterReason,
    DeclineReason,
    IdentificationOutcome,
    NeedKind,
    OrphanReason,
    Urgency,
)
from hub.contracts.events import Acknowledgement, IdentificationDecision
from hub.rules.deadlines.ladder import OrphanedNeed
from hub.rules.deadlines.open_deadline import (
    OpenDeadline,
    Supervisor,
    ladder_instants,
    open_deadline,
    require_utc,
)
from hub.rules.deadlines.policy import NEED_OF, DeadlinePolicy


class CloseReason(StrEnum):
    """Why a deadline closed."""

    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    DECIDED = "DECIDED"
    CANCELLED = "CANCELLED"
    PERMIT_DECIDED = "PERMIT_DECIDED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"


@dataclass(frozen=True, slots=True)
class Closed:
    """The deadline is over: remove it. ``resolved_orphan`` is True when the need had been
    raised as orphaned (the operators' view can clear it)."""

    deadline_id: UUID
    case_id: UUID
    request_id: UUID
    recipient_agency: str
    reason: CloseReason
    at: datetime
    late_by: timedelta
    resolved_orphan: bool


@dataclass(frozen=True, slots=True)
class Extended:
    """NEEDS_INFORMATION: the deadline continues with a later due instant."""

    deadline: OpenDeadline
    previous_due_at: datetime


@dataclass(frozen=True, slots=True)
class NotExtended:
    """NEEDS_INFORMATION after the allowed extensions: the ladder goes on unchanged."""

    deadline_id: UUID
    extensions: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """An answer that cannot count (dead-letter it with ``reason``); the deadline goes on."""

    deadline_id: UUID
    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True, slots=True)
class Reroute:
    """The recipient declined (or transferred): close ``closed_deadline_id`` and route the
    request to the next eligible agency of ``recipient_role`` not in ``declined_by``."""

    closed_deadline_id: UUID
    case_id: UUID
    request_id: UUID
    message_type: str
    recipient_role: AgencyRole
    departement: str
    minor: bool
    urgency: Urgency
    declined_by: tuple[str, ...]
    attempt: int
    decline_reason: DeclineReason | None
    at: datetime
    resolved_orphan: bool = False

    @property
    def need(self) -> NeedKind:
        """The case need being re-routed."""
        return NEED_OF[self.message_type]


AckDecision = Closed | Extended | NotExtended | Reroute | Rejected


def close(
    deadline: OpenDeadline, now: datetime, reason: CloseReason = CloseReason.CANCELLED
) -> Closed:
    """Close ``deadline`` for a reason outside an answer (case closed, consent withdrawn,
    permit decided so the reflection-period reminder is moot)."""
    now = require_utc(now)
    return Closed(
        deadline.deadline_id,
        deadline.case_id,
        deadline.request_id,
        deadline.recipient_agency,
        reason,
        now,
        deadline.late_by(now),
        deadline.exhausted,
    )


def _reroute(
    deadline: OpenDeadline,
    now: datetime,
    *,
    role: AgencyRole,
    reason: DeclineReason | None,
) -> Reroute:
    return Reroute(
        closed_deadline_id=deadline.deadline_id,
        case_id=deadline.case_id,
        request_id=deadline.request_id,
        message_type=deadline.message_type,
        recipient_role=role,
        departement=deadline.departement,
        minor=deadline.minor,
        urgency=deadline.urgency,
        declined_by=(*deadline.declined_by, deadline.recipient_agency),
        attempt=deadline.attempt + 1,
        decline_reason=reason,
        at=require_utc(now),
        resolved_orphan=deadline.exhausted,
    )


def _wrong_responder(deadline: OpenDeadline, sender: str | None) -> Rejected:
    return Rejected(
        deadline.deadline_id,
        DeadLetterReason.WRONG_RESPONDER,
        f"answer from {sender or 'an unverified sender'}; the request went to "
        f"{deadline.recipient_agency}",
    )


def on_ack(
    deadline: OpenDeadline, ack: Acknowledgement, now: datetime, policy: DeadlinePolicy
) -> AckDecision:
    """The decision for the recipient's answer ``ack`` to ``deadline``.

    Only the agency the request went to can answer (``envelope.sender`` is set by the hub
    from the verified signature). NEEDS_INFORMATION extends: the new due instant is the rule's
    duration counted from ``now`` (never earlier than the current one), steps already fired
    stay fired and the others move with it; after ``policy.max_information_extensions``
    extensions it changes nothing (``NotExtended``), so a request cannot be parked forever.
    """
    now = require_utc(now)
    if ack.request_id != deadline.request_id:
        return Rejected(deadline.deadline_id, DeadLetterReason.UNKNOWN_REQUEST, "other request")
    if ack.envelope.sender != deadline.recipient_agency:
        return _wrong_responder(deadline, ack.envelope.sender)
    if ack.status in (AckStatus.ACCEPTED, AckStatus.COMPLETED):
        return replace(close(deadline, now), reason=CloseReason(ack.status.value))
    if ack.status is AckStatus.DECLINED:
        reason = ack.decline_reason
        return _reroute(deadline, now, role=deadline.recipient_role, reason=reason)
    if ack.status is AckStatus.NEEDS_INFORMATION:
        return _extend(deadline, now, policy)
    return Rejected(
        deadline.deadline_id, DeadLetterReason.SEMANTIC_VIOLATION, f"status {ack.status}"
    )


def _extend(deadline: OpenDeadline, now: datetime, policy: DeadlinePolicy) -> AckDecision:
    if deadline.extensions >= policy.max_information_extensions:
        return NotExtended(deadline.deadline_id, deadline.extensions)
    rule = policy.rule_for(
        deadline.message_type, deadline.recipient_role, deadline.urgency, deadline.minor
    )
    calendar = policy.calendar(deadline.departement)
    due_at = max(deadline.due_at, rule.duration.due(now, calendar))
    fired = deadline.step_at[: deadline.next_step]
    by_step = dict(zip(rule.steps, ladder_instants(rule, due_at, calendar), strict=True))
    pending: list[datetime] = []
    latest = fired[-1] if fired else None
    for step in deadline.steps[deadline.next_step :]:
        instant = by_step.get(step, due_at)
        latest = instant if latest is None else max(latest, instant)
        pending.append(latest)
    extended = replace(
        deadline,
        due_at=due_at,
        step_at=(*fired, *pending),
        extensions=deadline.extensions + 1,
    )
    return Extended(extended, deadline.due_at)


def on_identification_decision(
    deadline: OpenDeadline, decision: IdentificationDecision, now: datetime
) -> Closed | Reroute | Rejected:
    """The decision for an identifying authority's answer to a report's deadline:
    REASONABLE_GROUNDS (the first stage: the deadline is met, the conclusive decision has no
    deadline of its own), IDENTIFIED and NOT_IDENTIFIED close it, TRANSFERRED re-routes to
    ``transferred_to_role``."""
    now = require_utc(now)
    if decision.report_event_id != deadline.request_id:
        return Rejected(deadline.deadline_id, DeadLetterReason.UNKNOWN_REQUEST, "other report")
    if decision.envelope.sender != deadline.recipient_agency:
        return _wrong_responder(deadline, decision.envelope.sender)
    if decision.outcome in (
        IdentificationOutcome.REASONABLE_GROUNDS,
        IdentificationOutcome.IDENTIFIED,
        IdentificationOutcome.NOT_IDENTIFIED,
    ):
        return close(deadline, now, CloseReason.DECIDED)
    if (
        decision.outcome is IdentificationOutcome.TRANSFERRED
        and decision.transferred_to_role is not None
    ):
        return _reroute(deadline, now, role=decision.transferred_to_role, reason=None)
    return Rejected(
        deadline.deadline_id, DeadLetterReason.SEMANTIC_VIOLATION, f"outcome {decision.outcome}"
    )


def next_recipient(candidates: Iterable[str], declined: Iterable[str]) -> str | None:
    """The first of ``candidates`` (in preference order) that has not declined, or None."""
    excluded = frozenset(declined)
    for candidate in candidates:
        if candidate not in excluded:
            return candidate
    return None


def resolve_reroute(
    reroute: Reroute,
    candidates: Sequence[str],
    now: datetime,
    policy: DeadlinePolicy,
    supervisor_of: Callable[[str], Supervisor | None] | None = None,
) -> OpenDeadline | OrphanedNeed:
    """A fresh deadline for the next eligible agency (``candidates`` in preference order, as
    routing gives them), or an ``OrphanedNeed``: NO_ELIGIBLE_AGENCY if there were no
    candidates at all, ALL_DECLINED if every candidate has declined."""
    recipient = next_recipient(candidates, reroute.declined_by)
    if recipient is None:
        reason = OrphanReason.ALL_DECLINED if candidates else OrphanReason.NO_ELIGIBLE_AGENCY
        # A re-routed request has no open deadline left: the orphaned need carries none.
        return OrphanedNeed(
            case_id=reroute.case_id,
            need=reroute.need,
            reason=reason,
            request_id=reroute.request_id,
            message_type=reroute.message_type,
            departement=reroute.departement,
            declined_by=reroute.declined_by,
            deadline_id=None,
            at=require_utc(now),
        )
    return open_deadline(
        case_id=reroute.case_id,
        request_id=reroute.request_id,
        recipient_agency=recipient,
        recipient_role=reroute.recipient_role,
        message_type=reroute.message_type,
        departement=reroute.departement,
        minor=reroute.minor,
        urgency=reroute.urgency,
        opened_at=now,
        policy=policy,
        attempt=reroute.attempt,
        declined_by=reroute.declined_by,
        supervisor=supervisor_of(recipient) if supervisor_of is not None else None,
    )
