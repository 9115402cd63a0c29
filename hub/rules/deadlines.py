"""The deadline engine: deadline policy as data, and pure decisions over open deadlines.

Every routed message that needs an answer gets an ``OpenDeadline`` (``open_deadline``). Given
a deadline, an event and the injected clock ``now``, the functions below return decisions
(frozen values); the agents carry them out. Nothing here reads a clock, a topic or a file
except ``DeadlinePolicy.load``.

- ``advance(deadline, now)``: the ladder steps now due (``Reminder`` to the recipient, then
  ``Escalate`` to its supervisor, then to national coordination), each exactly once; after
  the last step the need is raised as an ``OrphanedNeed`` (and the deadline stays open, so
  a late answer still closes it).
- ``on_ack(deadline, ack, now, policy)``: ACCEPTED / COMPLETED → ``Closed``;
  NEEDS_INFORMATION → ``Extended`` (at most ``max_information_extensions`` times, else
  ``NotExtended``); DECLINED → ``Reroute``; an answer from anyone but the recipient →
  ``Rejected(WRONG_RESPONDER)``.
- ``resolve_reroute(reroute, candidates, now, policy)``: a fresh deadline for the next
  eligible agency, or an ``OrphanedNeed`` when none is left.

Rule precedence: among the rules of the deadline's message type and recipient role, those
whose urgency and minor match (a field set to ``any`` matches everything) compete, and the
most specific wins (the one that sets more of urgency and minor). Two equally specific rules
that can match the same request make the policy invalid: it must state the combined case.
Every (message type, role) group must cover every urgency and minor value. See
docs/DEADLINES.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, get_args
from uuid import UUID, uuid5

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    DeadLetterReason,
    DeclineReason,
    EscalationStep,
    IdentificationOutcome,
    NeedKind,
    OrphanReason,
    Urgency,
)
from hub.contracts.events import Acknowledgement, Envelope, Escalation, IdentificationDecision
from hub.rules.working_days import (
    DEFAULT_BUSINESS_DAY_END,
    MAX_WORKING_DAYS,
    WorkingDays,
    working_days_for,
)
from hub.runtime.config_files import load_config
from hub.runtime.settings import get_settings

POLICY_FILE: Final = "deadlines.yaml"

REFLECTION_PERIOD_END: Final = "reflection_period_end"
MessageType = Literal[
    "fr.nrm.PresumedVictimReport",
    "fr.nrm.AccommodationRequested",
    "fr.nrm.SupportRequested",
    "fr.nrm.PermitRequested",
    "reflection_period_end",
]
"""What a deadline waits for: an answer to one of these events (for a report: the
identification decision), or the end of a reflection period while a permit is pending."""

MESSAGE_TYPES: Final[tuple[str, ...]] = get_args(MessageType)
LADDER_ORDER: Final = (
    EscalationStep.REMINDER,
    EscalationStep.SUPERVISOR,
    EscalationStep.NATIONAL_COORDINATION,
)
DEADLINE_NAMESPACE: Final = UUID("5d1c0b52-7d8e-5a3c-9f43-2f0f6c1e4a10")
"""uuid5 namespace of deadline ids, ladder-step event ids and orphaned-need ids."""

_ZERO: Final = timedelta(0)


NEED_OF: Final[Mapping[str, NeedKind]] = {
    "fr.nrm.PresumedVictimReport": NeedKind.IDENTIFICATION,
    "fr.nrm.AccommodationRequested": NeedKind.ACCOMMODATION,
    "fr.nrm.SupportRequested": NeedKind.SUPPORT,
    "fr.nrm.PermitRequested": NeedKind.PERMIT,
    REFLECTION_PERIOD_END: NeedKind.PERMIT,
}


class CloseReason(StrEnum):
    """Why a deadline closed."""

    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    DECIDED = "DECIDED"
    CANCELLED = "CANCELLED"


class NoDeadlineRule(LookupError):
    """The policy has no rule for a message type and recipient role."""


# ------------------------------------------------------------------------------- policy


class Duration(BaseModel):
    """A length of time in exactly one unit: working days, calendar hours or calendar days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    working_days: int | None = Field(default=None, ge=-MAX_WORKING_DAYS, le=MAX_WORKING_DAYS)
    hours: int | None = Field(default=None, ge=-24 * 366, le=24 * 366)
    days: int | None = Field(default=None, ge=-366, le=366)

    @model_validator(mode="after")
    def _exactly_one_unit(self) -> Duration:
        given = [v for v in (self.working_days, self.hours, self.days) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of working_days, hours, days")
        return self

    @property
    def amount(self) -> int:
        """The number of units (negative for a ladder step before the due instant)."""
        for value in (self.working_days, self.hours, self.days):
            if value is not None:
                return value
        raise AssertionError("validated: exactly one unit")

    def due(self, received: datetime, calendar: WorkingDays) -> datetime:
        """The due instant of a request received at ``received`` (working-day and calendar
        day durations end at 23:59:59 local time; see ``hub.rules.working_days``)."""
        if self.working_days is not None:
            return calendar.add_working_days(received, self.working_days)
        if self.hours is not None:
            return calendar.add_hours(received, self.hours)
        return calendar.add_calendar_days(received, self.amount)

    def shift(self, instant: datetime, calendar: WorkingDays) -> datetime:
        """``instant`` moved by this offset, keeping the local wall-clock time (ladder)."""
        if self.working_days is not None:
            return calendar.shift_working_days(instant, self.working_days)
        if self.hours is not None:
            return calendar.add_hours(instant, self.hours)
        local = calendar.local(instant) + timedelta(days=self.amount)
        return local.astimezone(UTC)

    def __str__(self) -> str:
        if self.working_days is not None:
            unit = "working day"
        else:
            unit = "hour" if self.hours is not None else "day"
        return f"{self.amount} {unit}{'' if abs(self.amount) == 1 else 's'}"


class LadderRung(BaseModel):
    """One rung of the escalation ladder: when it fires, as an offset from the due instant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: EscalationStep
    after: Duration


class DeadlineRule(BaseModel):
    """How long a recipient role has to answer a message type, and the ladder after that."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_type: MessageType
    recipient_role: AgencyRole
    urgency: Urgency | None = Field(default=None, description="None (any) matches all.")
    minor: bool | None = Field(default=None, description="None (any) matches both.")
    duration: Duration
    ladder: tuple[LadderRung, ...] = Field(min_length=1)
    source: str = Field(min_length=3, description="Legal text or policy this rule comes from.")
    _steps: tuple[EscalationStep, ...] = PrivateAttr(default=())

    @field_validator("urgency", "minor", mode="before")
    @classmethod
    def _any_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.lower() == "any" else value

    @model_validator(mode="after")
    def _check(self) -> DeadlineRule:
        if self.duration.amount < 0:
            raise ValueError("duration must not be negative")
        steps = tuple(rung.step for rung in self.ladder)
        order = [LADDER_ORDER.index(s) if s in LADDER_ORDER else -1 for s in steps]
        if min(order) < 0 or order != sorted(set(order)):
            raise ValueError(
                "ladder steps must be distinct, in the order REMINDER, SUPERVISOR, "
                f"NATIONAL_COORDINATION (got {', '.join(steps)})"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Keep one shared tuple of step names (every deadline of this rule points to it)."""
        self._steps = tuple(rung.step for rung in self.ladder)

    @property
    def steps(self) -> tuple[EscalationStep, ...]:
        """The ladder's steps, in order."""
        return self._steps

    @property
    def specificity(self) -> int:
        """How many of urgency and minor the rule sets (the most specific rule wins)."""
        return (self.urgency is not None) + (self.minor is not None)

    def matches(self, urgency: Urgency, minor: bool) -> bool:
        """True when the rule applies to a request of this urgency and minority."""
        return (self.urgency is None or self.urgency is urgency) and (
            self.minor is None or self.minor is minor
        )

    def label(self) -> str:
        """A short description for error messages and tables."""
        urgency = self.urgency.value if self.urgency is not None else "any"
        minor = "any" if self.minor is None else str(self.minor).lower()
        return f"{self.message_type} → {self.recipient_role} (urgency {urgency}, minor {minor})"


class DeadlinePolicy(BaseModel):
    """The deadline policy file (``deploy/config/deadlines.yaml``), validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    business_day_end: time = Field(
        default=DEFAULT_BUSINESS_DAY_END,
        description="A request received at or after this local time counts from the next "
        "working day.",
    )
    max_information_extensions: int = Field(
        default=2, ge=0, le=10, description="How many NEEDS_INFORMATION answers extend."
    )
    ladders: dict[str, tuple[LadderRung, ...]] = Field(
        default_factory=dict, description="Named ladders rules can refer to by name."
    )
    rules: tuple[DeadlineRule, ...]
    _groups: dict[tuple[str, AgencyRole], tuple[DeadlineRule, ...]] = PrivateAttr(
        default_factory=dict
    )

    @field_validator("rules", mode="before")
    @classmethod
    def _resolve_ladder_names(cls, rules: Any, info: ValidationInfo) -> Any:
        if not isinstance(rules, list):
            return rules
        ladders = info.data.get("ladders", {})
        resolved = []
        for index, rule in enumerate(rules):
            if isinstance(rule, dict) and isinstance(rule.get("ladder"), str):
                name = rule["ladder"]
                if name not in ladders:
                    known = ", ".join(sorted(ladders)) or "none"
                    raise ValueError(f"rules.{index}.ladder: no ladder {name!r} (known: {known})")
                rule = {**rule, "ladder": ladders[name]}
            resolved.append(rule)
        return resolved

    @field_validator("rules")
    @classmethod
    def _unambiguous_and_complete(cls, rules: tuple[DeadlineRule, ...]) -> tuple[DeadlineRule, ...]:
        if not rules:
            raise ValueError("the policy has no rules")
        position = {id(rule): i for i, rule in enumerate(rules)}
        problems: list[str] = []
        for (message_type, role), group in _group(rules).items():
            for urgency in Urgency:
                for minor in (False, True):
                    case = f"{message_type} → {role} with urgency {urgency}, minor {minor}"
                    matching = [r for r in group if r.matches(urgency, minor)]
                    if not matching:
                        problems.append(f"no rule for {case} (add one with urgency and minor any)")
                        continue
                    best = max(r.specificity for r in matching)
                    tied = [position[id(r)] for r in matching if r.specificity == best]
                    if len(tied) > 1:
                        problems.append(
                            f"rules {tied} tie for {case}: add a rule for exactly that case"
                        )
        if problems:
            shown = sorted(set(problems))
            raise ValueError("; ".join(shown[:5]) + (" ..." if len(shown) > 5 else ""))
        return rules

    def model_post_init(self, context: Any, /) -> None:
        """Index the rules by (message type, recipient role) for ``rule_for``."""
        self._groups = _group(self.rules)

    @classmethod
    def load(cls, path: Path | None = None) -> DeadlinePolicy:
        """Read and validate the policy file (default: ``deadlines.yaml`` in the settings'
        config dir); ``hub.runtime.config_files.ConfigError`` names the file and each problem."""
        return load_config(path or get_settings().config_dir / POLICY_FILE, cls)

    def covers(self, message_type: str, recipient_role: AgencyRole) -> bool:
        """True when the policy has rules for this message type and recipient role."""
        return (message_type, recipient_role) in self._groups

    def rule_for(
        self, message_type: str, recipient_role: AgencyRole, urgency: Urgency, minor: bool
    ) -> DeadlineRule:
        """The most specific matching rule (``NoDeadlineRule`` if the pair has no rules)."""
        rules = self._groups.get((message_type, recipient_role))
        if rules is None:
            raise NoDeadlineRule(f"no deadline rule for {message_type} → {recipient_role}")
        # Validation guarantees one most specific match for every urgency and minor value.
        return max((r for r in rules if r.matches(urgency, minor)), key=_specificity)

    def calendar(self, departement: str) -> WorkingDays:
        """The working-day calendar of ``departement`` under this policy's business hours."""
        return working_days_for(departement, self.business_day_end)


def _specificity(rule: DeadlineRule) -> int:
    return rule.specificity


def _group(rules: Iterable[DeadlineRule]) -> dict[tuple[str, AgencyRole], tuple[DeadlineRule, ...]]:
    groups: dict[tuple[str, AgencyRole], list[DeadlineRule]] = {}
    for rule in rules:
        groups.setdefault((rule.message_type, rule.recipient_role), []).append(rule)
    return {key: tuple(group) for key, group in groups.items()}


# ------------------------------------------------------------------------ open deadlines


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
            opened_at=_utc(datetime.fromisoformat(data["opened_at"])),
            due_at=_utc(datetime.fromisoformat(data["due_at"])),
            steps=tuple(EscalationStep(s) for s in data["steps"]),
            step_at=tuple(_utc(datetime.fromisoformat(t)) for t in data["step_at"]),
            next_step=int(data["next_step"]),
            attempt=int(data["attempt"]),
            declined_by=tuple(data["declined_by"]),
            extensions=int(data["extensions"]),
            supervisor=None
            if supervisor is None
            else Supervisor(supervisor["agency_id"], AgencyRole(supervisor["role"])),
        )


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: the clock must be UTC-aware")
    return instant.astimezone(UTC)


def deadline_id_for(
    request_id: UUID, recipient_agency: str, attempt: int, message_type: str = ""
) -> UUID:
    """The deterministic id of the deadline of ``request_id`` sent to ``recipient_agency`` on
    routing attempt ``attempt`` (0 first, +1 per re-route): replays give the same id. The
    reflection-period reminder shares its permit request's id and recipient, so a message
    type other than the request's own is part of the id."""
    kind = f"/{message_type}" if message_type == REFLECTION_PERIOD_END else ""
    return uuid5(DEADLINE_NAMESPACE, f"deadline/{request_id}/{recipient_agency}/{attempt}{kind}")


def _ladder(
    rule: DeadlineRule, due_at: datetime, calendar: WorkingDays, floor: datetime | None = None
) -> tuple[datetime, ...]:
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
    opened_at = _utc(opened_at)
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
        step_at=_ladder(rule, due_at, calendar),
        attempt=attempt,
        declined_by=tuple(declined_by),
        supervisor=supervisor,
    )


# ----------------------------------------------------------------------------- decisions


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


@dataclass(frozen=True, slots=True)
class Advance:
    """What a tick does to one deadline: the steps to emit (in order), the updated deadline
    to keep, and the orphaned need raised when the last step fired."""

    deadline: OpenDeadline
    steps: tuple[LadderStep, ...] = field(default=())
    orphaned: OrphanedNeed | None = None


AckDecision = Closed | Extended | NotExtended | Reroute | Rejected


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
    now = _utc(now)
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
        orphaned = _orphan(deadline, OrphanReason.PAST_LAST_STEP, deadline.declined_by, now)
    return Advance(updated, tuple(steps), orphaned)


def _orphan(
    deadline: OpenDeadline | Reroute,
    reason: OrphanReason,
    declined_by: tuple[str, ...],
    now: datetime,
) -> OrphanedNeed:
    return OrphanedNeed(
        case_id=deadline.case_id,
        need=NEED_OF[deadline.message_type],
        reason=reason,
        request_id=deadline.request_id,
        message_type=deadline.message_type,
        departement=deadline.departement,
        declined_by=declined_by,
        deadline_id=deadline.deadline_id if isinstance(deadline, OpenDeadline) else None,
        at=_utc(now),
    )


def close(
    deadline: OpenDeadline, now: datetime, reason: CloseReason = CloseReason.CANCELLED
) -> Closed:
    """Close ``deadline`` for a reason outside an answer (case closed, consent withdrawn,
    permit decided so the reflection-period reminder is moot)."""
    now = _utc(now)
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
        at=_utc(now),
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
    now = _utc(now)
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
    by_step = dict(zip(rule.steps, _ladder(rule, due_at, calendar), strict=True))
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
    IDENTIFIED / NOT_IDENTIFIED close it, TRANSFERRED re-routes to ``transferred_to_role``."""
    now = _utc(now)
    if decision.report_event_id != deadline.request_id:
        return Rejected(deadline.deadline_id, DeadLetterReason.UNKNOWN_REQUEST, "other report")
    if decision.envelope.sender != deadline.recipient_agency:
        return _wrong_responder(deadline, decision.envelope.sender)
    if decision.outcome in (IdentificationOutcome.IDENTIFIED, IdentificationOutcome.NOT_IDENTIFIED):
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
        return _orphan(reroute, reason, reroute.declined_by, now)
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


def escalation_event(step: LadderStep, occurred_at: datetime) -> Escalation:
    """The ``fr.nrm.Escalation`` event of a ladder step (its id is ``step.event_id``; the
    hub's outbox sets the sender). ``request_id`` is null for an identification decision,
    whose deadline is a report's, as the schema says."""
    request_id = None if NEED_OF[step.message_type] is NeedKind.IDENTIFICATION else step.request_id
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
