"""Deadline policy as data: how long each recipient role has to answer each message type,
and the escalation ladder after that (``deploy/config/deadlines.yaml``, docs/DEADLINES.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hub.contracts.enums import AgencyRole, EscalationStep, NeedKind, Urgency
from hub.rules.derived_values import DerivedOnce
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
CONCLUSIVE_DECISION: Final = "conclusive_decision"
PARENTS_INFORMED: Final = "parents_informed"
MessageType = Literal[
    "fr.nrm.PresumedVictimReport",
    "fr.nrm.AccommodationRequested",
    "fr.nrm.SupportRequested",
    "fr.nrm.PermitRequested",
    "fr.nrm.WitnessReport",
    "reflection_period_end",
    "conclusive_decision",
    "parents_informed",
]
"""What a deadline waits for: an answer to one of these events (for a report: the
identification decision; for a report from the public: its triage), the end of a
reflection period while a permit is pending, the conclusive identification decision after a
reasonable-grounds one, or the answer whether a minor's parents were informed of the
transmission to child protection (CASF L226-2-1)."""

DERIVED_TYPES: Final = frozenset({REFLECTION_PERIOD_END, CONCLUSIVE_DECISION, PARENTS_INFORMED})
"""Deadlines that share the id and recipient of another request's deadline (the permit
request's, the report's): their type is part of their deadline id."""

MESSAGE_TYPES: Final[tuple[str, ...]] = get_args(MessageType)
LADDER_ORDER: Final = (
    EscalationStep.REMINDER,
    EscalationStep.SUPERVISOR,
    EscalationStep.NATIONAL_COORDINATION,
)


NEED_OF: Final[Mapping[str, NeedKind]] = {
    "fr.nrm.PresumedVictimReport": NeedKind.IDENTIFICATION,
    "fr.nrm.AccommodationRequested": NeedKind.ACCOMMODATION,
    "fr.nrm.SupportRequested": NeedKind.SUPPORT,
    "fr.nrm.PermitRequested": NeedKind.PERMIT,
    REFLECTION_PERIOD_END: NeedKind.PERMIT,
    "fr.nrm.WitnessReport": NeedKind.TRIAGE,
    CONCLUSIVE_DECISION: NeedKind.IDENTIFICATION,
    # No NeedKind names the parents' information: adding a symbol changes every registered
    # schema that carries it (OrphanedNeed); its message type says what it is.
    PARENTS_INFORMED: NeedKind.UNKNOWN,
}

NO_REQUEST_TYPES: Final = frozenset({PARENTS_INFORMED})
"""Deadlines that wait on no request the recipient knows: their escalations name the case
only (``Escalation.request_id`` null), as a report's do."""


class NoDeadlineRule(LookupError):
    """The policy has no rule for a message type and recipient role."""


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
            raise ValueError("donnez exactement un de working_days, hours, days")
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


class DeadlineRule(DerivedOnce):
    """How long a recipient role has to answer a message type, and the ladder after that."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_type: MessageType
    recipient_role: AgencyRole
    urgency: Urgency | None = Field(default=None, description="None (any) matches all.")
    minor: bool | None = Field(default=None, description="None (any) matches both.")
    duration: Duration
    ladder: tuple[LadderRung, ...] = Field(min_length=1)
    source: str = Field(min_length=3, description="Legal text or policy this rule comes from.")

    @field_validator("urgency", "minor", mode="before")
    @classmethod
    def _any_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.lower() == "any" else value

    @model_validator(mode="after")
    def _check(self) -> DeadlineRule:
        if self.duration.amount < 0:
            raise ValueError("la durée ne peut pas être négative")
        steps = tuple(rung.step for rung in self.ladder)
        order = [LADDER_ORDER.index(s) if s in LADDER_ORDER else -1 for s in steps]
        if min(order) < 0 or order != sorted(set(order)):
            raise ValueError(
                "les étapes de ladder doivent être distinctes, dans l'ordre REMINDER, SUPERVISOR, "
                f"NATIONAL_COORDINATION (reçu : {', '.join(steps)})"
            )
        return self

    @cached_property
    def steps(self) -> tuple[EscalationStep, ...]:
        """The ladder's steps, in order: one shared tuple (every deadline of this rule points
        to it). A cached property, not a pydantic private attribute: reading one of those costs
        microseconds per read on the hot path (docs/BENCHMARKS.md)."""
        return tuple(rung.step for rung in self.ladder)

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


class DeadlinePolicy(DerivedOnce):
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
                    known = ", ".join(sorted(ladders)) or "aucune"
                    raise ValueError(
                        f"rules.{index}.ladder : pas d'échelle {name!r} (connues : {known})"
                    )
                rule = {**rule, "ladder": ladders[name]}
            resolved.append(rule)
        return resolved

    @field_validator("rules")
    @classmethod
    def _unambiguous_and_complete(cls, rules: tuple[DeadlineRule, ...]) -> tuple[DeadlineRule, ...]:
        if not rules:
            raise ValueError("la politique n'a aucune règle")
        position = {id(rule): i for i, rule in enumerate(rules)}
        problems: list[str] = []
        for (message_type, role), group in _group(rules).items():
            for urgency in Urgency:
                for minor in (False, True):
                    case = f"{message_type} → {role}, urgence {urgency}, mineur {minor}"
                    matching = [r for r in group if r.matches(urgency, minor)]
                    if not matching:
                        problems.append(
                            f"aucune règle pour {case} (ajoutez-en une avec urgency et minor à any)"
                        )
                        continue
                    best = max(r.specificity for r in matching)
                    tied = [position[id(r)] for r in matching if r.specificity == best]
                    if len(tied) > 1:
                        problems.append(
                            f"les règles {tied} sont à égalité pour {case} : "
                            "ajoutez une règle pour exactement ce cas"
                        )
        if problems:
            shown = sorted(set(problems))
            raise ValueError("; ".join(shown[:5]) + (" ..." if len(shown) > 5 else ""))
        return rules

    @cached_property
    def _groups(self) -> dict[tuple[str, AgencyRole], tuple[DeadlineRule, ...]]:
        """The rules by (message type, recipient role), for ``rule_for``: built on first use
        (a cached property, read on every event, where a private attribute is slow)."""
        return _group(self.rules)

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
