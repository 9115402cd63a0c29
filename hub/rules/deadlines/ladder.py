"""The escalation ladder: which steps of an open deadline are due at ``now`` (a reminder to
the recipient, then its supervisor, then national coordination), each fired exactly once,
the orphaned need raised after the last one, and the Escalation event each step emits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from hub.contracts.enums import AgencyRole, EscalationStep, NeedKind, OrphanReason
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Escalation,
)
from hub.rules.deadlines.open_deadline import DEADLINE_NAMESPACE, OpenDeadline, require_utc
from hub.rules.deadlines.policy import NEED_OF, NO_REQUEST_TYPES


def step_event_id(deadline_id: UUID, step: EscalationStep) -> UUID:
    """The id of the event a ladder step emits: the same on every replay, so a step fired
    again after a restart is recognised downstream as a duplicate."""
    return uuid5(DEADLINE_NAMESPACE, f"step/{deadline_id}/{step}")


@dataclass(frozen=True, slots=True)
class Reminder:
    """First rung: remind the recipient that its answer is due."""

    deadline_id: UUID
    case_id: UUID
    request_id: UUID
    message_type: str
    target_agency: str
    target_role: AgencyRole
    due_at: datetime
    late_by: timedelta
    step: EscalationStep = EscalationStep.REMINDER

    @property
    def key(self) -> tuple[UUID, EscalationStep]:
        """Idempotency key: a step fires once per deadline."""
        return (self.deadline_id, self.step)

    @property
    def event_id(self) -> UUID:
        """The id of the Escalation event this step emits."""
        return step_event_id(self.deadline_id, self.step)


@dataclass(frozen=True, slots=True)
class Escalate:
    """A higher rung: tell the supervisor (or national coordination) the answer is late.
    ``target_agency`` None means every agency of ``target_role``."""

    deadline_id: UUID
    case_id: UUID
    request_id: UUID
    message_type: str
    step: EscalationStep
    target_role: AgencyRole
    target_agency: str | None
    due_at: datetime
    late_by: timedelta

    @property
    def key(self) -> tuple[UUID, EscalationStep]:
        """Idempotency key: a step fires once per deadline."""
        return (self.deadline_id, self.step)

    @property
    def event_id(self) -> UUID:
        """The id of the Escalation event this step emits."""
        return step_event_id(self.deadline_id, self.step)


LadderStep = Reminder | Escalate


@dataclass(frozen=True, slots=True)
class OrphanedNeed:
    """A case need nobody is acting on: raise it to operators until it is resolved."""

    case_id: UUID
    need: NeedKind
    reason: OrphanReason
    request_id: UUID
    message_type: str
    departement: str
    declined_by: tuple[str, ...]
    deadline_id: UUID | None
    at: datetime

    @property
    def orphan_id(self) -> UUID:
        """Deterministic id (request and reason) for an idempotent orphaned-needs topic."""
        return uuid5(DEADLINE_NAMESPACE, f"orphan/{self.request_id}/{self.reason}")


@dataclass(frozen=True, slots=True)
class Advance:
    """What a tick does to one deadline: the steps to emit (in order), the updated deadline
    to keep, and the orphaned need raised when the last step fired."""

    deadline: OpenDeadline
    steps: tuple[LadderStep, ...] = field(default=())
    orphaned: OrphanedNeed | None = None


def _step(deadline: OpenDeadline, index: int, now: datetime) -> LadderStep:
    step = deadline.steps[index]
    late_by = deadline.late_by(now)
    if step is EscalationStep.REMINDER:
        return Reminder(
            deadline.deadline_id,
            deadline.case_id,
            deadline.request_id,
            deadline.message_type,
            deadline.recipient_agency,
            deadline.recipient_role,
            deadline.due_at,
            late_by,
        )
    target_role, target_agency = AgencyRole.NATIONAL_COORDINATION, None
    if step is EscalationStep.SUPERVISOR and deadline.supervisor is not None:
        # No supervisor in the directory: operators hear of it early rather than nobody.
        target_role, target_agency = deadline.supervisor.role, deadline.supervisor.agency_id
    return Escalate(
        deadline.deadline_id,
        deadline.case_id,
        deadline.request_id,
        deadline.message_type,
        step,
        target_role,
        target_agency,
        deadline.due_at,
        late_by,
    )


def due_steps(deadline: OpenDeadline, now: datetime) -> list[LadderStep]:
    """The ladder steps not yet fired whose instant is at or before ``now``, in order, with
    ``late_by`` measured at ``now``. Pure: ``advance`` records that they fired."""
    now = require_utc(now)
    steps: list[LadderStep] = []
    for index in range(deadline.next_step, len(deadline.steps)):
        if deadline.step_at[index] > now:
            break
        steps.append(_step(deadline, index, now))
    return steps


def advance(deadline: OpenDeadline, now: datetime) -> Advance:
    """Fire the due steps of ``deadline`` at ``now``: each step exactly once, however often
    the clock ticks or however far it jumps; an ``OrphanedNeed`` when the last one fires."""
    steps = due_steps(deadline, now)
    if not steps:
        return Advance(deadline)
    updated = replace(deadline, next_step=deadline.next_step + len(steps))
    orphaned = None
    if updated.exhausted:
        orphaned = orphaned_need(deadline, OrphanReason.PAST_LAST_STEP, now)
    return Advance(updated, tuple(steps), orphaned)


def orphaned_need(deadline: OpenDeadline, reason: OrphanReason, now: datetime) -> OrphanedNeed:
    """The need ``deadline`` protects, raised as orphaned for ``reason`` at ``now``."""
    return OrphanedNeed(
        case_id=deadline.case_id,
        need=deadline.need,
        reason=reason,
        request_id=deadline.request_id,
        message_type=deadline.message_type,
        departement=deadline.departement,
        declined_by=deadline.declined_by,
        deadline_id=deadline.deadline_id,
        at=require_utc(now),
    )


def escalation_event(step: LadderStep, occurred_at: datetime) -> Escalation:
    """The ``fr.nrm.Escalation`` event of a ladder step (its id is ``step.event_id``; the
    hub's outbox sets the sender). ``request_id`` is null for an identification decision,
    whose deadline is a report's, as the schema says, and for a deadline that waits on no
    request (the parents' information)."""
    named = NEED_OF[step.message_type] is not NeedKind.IDENTIFICATION
    request_id = step.request_id if named and step.message_type not in NO_REQUEST_TYPES else None
    return Escalation(
        envelope=Envelope(
            event_id=step.event_id,
            case_id=step.case_id,
            occurred_at=occurred_at,
            correlation_id=step.request_id,
        ),
        deadline_id=step.deadline_id,
        request_id=request_id,
        step=step.step,
        late_by_seconds=int(step.late_by.total_seconds()),
        target_agency=step.target_agency,
        target_role=step.target_role,
    )
