"""Open deadlines: a request waiting for an answer, with the instants of its ladder steps,
opened from the policy's most specific rule (see ``hub.rules.deadlines.policy``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from uuid import UUID, uuid5

from hub.contracts.enums import AgencyRole, EscalationStep, NeedKind, Urgency
from hub.rules.deadlines.policy import DERIVED_TYPES, NEED_OF, DeadlinePolicy, DeadlineRule
from hub.rules.working_days import WorkingDays

DEADLINE_NAMESPACE: Final = UUID("5d1c0b52-7d8e-5a3c-9f43-2f0f6c1e4a10")
"""uuid5 namespace of deadline ids, ladder-step event ids and orphaned-need ids."""

_ZERO: Final = timedelta(0)


@dataclass(frozen=True, slots=True)
class Supervisor:
    """The coordinator the directory names for an agency (``Agency.supervisor``)."""

    agency_id: str
    role: AgencyRole


@dataclass(frozen=True, slots=True)
class OpenDeadline:
    """A request waiting for an answer, with its ladder. Immutable: transitions return a new
    one. Instants are UTC; ``step_at[i]`` is when ``steps[i]`` fires; steps before
    ``next_step`` have fired."""

    deadline_id: UUID
    case_id: UUID
    request_id: UUID
    recipient_agency: str
    recipient_role: AgencyRole
    message_type: str
    departement: str
    minor: bool
    urgency: Urgency
    opened_at: datetime
    due_at: datetime
    steps: tuple[EscalationStep, ...]
    step_at: tuple[datetime, ...]
    next_step: int = 0
    attempt: int = 0
    declined_by: tuple[str, ...] = ()
    extensions: int = 0
    supervisor: Supervisor | None = None

    @property
    def next_at(self) -> datetime | None:
        """When the next ladder step fires; None once every step has fired."""
        return self.step_at[self.next_step] if self.next_step < len(self.steps) else None

    @property
    def exhausted(self) -> bool:
        """True once the last ladder step has fired (the need is orphaned until answered)."""
        return self.next_step >= len(self.steps)

    @property
    def need(self) -> NeedKind:
        """The case need this deadline protects."""
        return NEED_OF[self.message_type]

    @property
    def last_step(self) -> EscalationStep | None:
        """The last ladder step that fired, if any."""
        return self.steps[self.next_step - 1] if self.next_step else None

    def is_overdue(self, now: datetime) -> bool:
        """True when ``now`` is past the due instant."""
        return now > self.due_at

    def late_by(self, now: datetime) -> timedelta:
        """How late the answer is at ``now`` (zero before the due instant)."""
        return max(now - self.due_at, _ZERO)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for a changelog); ``from_dict`` reads it back."""
        supervisor = self.supervisor
        return {
            "deadline_id": str(self.deadline_id),
            "case_id": str(self.case_id),
            "request_id": str(self.request_id),
            "recipient_agency": self.recipient_agency,
            "recipient_role": self.recipient_role.value,
            "message_type": self.message_type,
            "departement": self.departement,
            "minor": self.minor,
            "urgency": self.urgency.value,
            "opened_at": self.opened_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "steps": [s.value for s in self.steps],
            "step_at": [t.isoformat() for t in self.step_at],
            "next_step": self.next_step,
            "attempt": self.attempt,
            "declined_by": list(self.declined_by),
            "extensions": self.extensions,
            "supervisor": None
            if supervisor is None
            else {"agency_id": supervisor.agency_id, "role": supervisor.role.value},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpenDeadline:
        """The deadline ``to_dict`` wrote (KeyError/ValueError on a malformed record)."""
        supervisor = data["supervisor"]
        return cls(
            deadline_id=UUID(data["deadline_id"]),
            case_id=UUID(data["case_id"]),
            request_id=UUID(data["request_id"]),
            recipient_agency=sys.intern(data["recipient_agency"]),
            recipient_role=AgencyRole(data["recipient_role"]),
            message_type=sys.intern(data["message_type"]),
            departement=sys.intern(data["departement"]),
            minor=bool(data["minor"]),
            urgency=Urgency(data["urgency"]),
            opened_at=require_utc(datetime.fromisoformat(data["opened_at"])),
            due_at=require_utc(datetime.fromisoformat(data["due_at"])),
            steps=tuple(EscalationStep(s) for s in data["steps"]),
            step_at=tuple(require_utc(datetime.fromisoformat(t)) for t in data["step_at"]),
            next_step=int(data["next_step"]),
            attempt=int(data["attempt"]),
            declined_by=tuple(data["declined_by"]),
            extensions=int(data["extensions"]),
            supervisor=None
            if supervisor is None
            else Supervisor(supervisor["agency_id"], AgencyRole(supervisor["role"])),
        )


def require_utc(instant: datetime) -> datetime:
    """``instant`` in UTC; ValueError for a naive datetime (the injected clock must be aware)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: the clock must be UTC-aware")
    return instant.astimezone(UTC)


def deadline_id_for(
    request_id: UUID, recipient_agency: str, attempt: int, message_type: str = ""
) -> UUID:
    """The deterministic id of the deadline of ``request_id`` sent to ``recipient_agency`` on
    routing attempt ``attempt`` (0 first, +1 per re-route): replays give the same id. The
    reflection-period reminder shares its permit request's id and recipient, the conclusive
    decision its report's, so a message type other than the request's own is part of the
    id."""
    kind = f"/{message_type}" if message_type in DERIVED_TYPES else ""
    return uuid5(DEADLINE_NAMESPACE, f"deadline/{request_id}/{recipient_agency}/{attempt}{kind}")


@lru_cache(maxsize=1024)
def ladder_instants(
    rule: DeadlineRule, due_at: datetime, calendar: WorkingDays, floor: datetime | None = None
) -> tuple[datetime, ...]:
    """The instants of ``rule``'s ladder steps for a deadline due at ``due_at``, in order and
    never before ``floor``. Cached: a pure function of its arguments, and a due instant in
    working or calendar days is the end of a day, shared by every deadline opened that day."""
    # Offsets in different units cannot be ordered in the file; a running maximum keeps the
    # instants in ladder order whatever the calendar does.
    instants: list[datetime] = []
    latest = floor
    for rung in rule.ladder:
        instant = rung.after.shift(due_at, calendar)
        latest = instant if latest is None else max(latest, instant)
        instants.append(latest)
    return tuple(instants)


def open_deadline(
    *,
    case_id: UUID,
    request_id: UUID,
    recipient_agency: str,
    recipient_role: AgencyRole,
    message_type: str,
    departement: str,
    minor: bool,
    urgency: Urgency,
    opened_at: datetime,
    policy: DeadlinePolicy,
    attempt: int = 0,
    declined_by: Sequence[str] = (),
    supervisor: Supervisor | None = None,
) -> OpenDeadline:
    """A new deadline for a message routed to ``recipient_agency`` at ``opened_at``.

    For an identification decision ``request_id`` is the report's ``envelope.event_id``; for
    the reflection period it is the pending permit request's id (its answer closes both).
    Raises ``NoDeadlineRule`` if the policy does not cover the message type and role.
    """
    opened_at = require_utc(opened_at)
    rule = policy.rule_for(message_type, recipient_role, urgency, minor)
    calendar = policy.calendar(departement)
    due_at = rule.duration.due(opened_at, calendar)
    return OpenDeadline(
        deadline_id=deadline_id_for(request_id, recipient_agency, attempt, rule.message_type),
        case_id=case_id,
        request_id=request_id,
        recipient_agency=sys.intern(recipient_agency),
        recipient_role=recipient_role,
        message_type=rule.message_type,
        departement=sys.intern(calendar.departement),
        minor=minor,
        urgency=urgency,
        opened_at=opened_at,
        due_at=due_at,
        steps=rule.steps,
        step_at=ladder_instants(rule, due_at, calendar),
        attempt=attempt,
        declined_by=tuple(declined_by),
        supervisor=supervisor,
    )


def overdue(
    deadlines: Iterable[OpenDeadline],
    now: datetime,
    *,
    agency: str | None = None,
    role: AgencyRole | str | None = None,
    departement: str | None = None,
) -> list[OpenDeadline]:
    """The deadlines past due at ``now`` matching the filters, the latest answer first."""
    wanted_role = AgencyRole(role) if role is not None else None
    selected = [
        d
        for d in deadlines
        if d.is_overdue(now)
        and (agency is None or d.recipient_agency == agency)
        and (wanted_role is None or d.recipient_role is wanted_role)
        and (departement is None or d.departement == departement)
    ]
    selected.sort(key=lambda d: (d.due_at, str(d.deadline_id)))
    return selected
