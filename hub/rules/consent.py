"""Consent before sharing: per case, per data category, per recipient role, with an expiry.

The policy (``deploy/config/consent.yaml``) says which categories each recipient role needs
for each message type — ``required`` (without them the message is useless, so it is held)
and ``optional`` (shared only if consent covers them) — and names the legal exceptions that
allow sharing without consent. Each exception names the condition it rests on (the
reporter's legal duty, a vital interest in immediate danger, a minor), its source and its
rows in docs/LAW.md, and shares only the *required* categories: optional ones still need
consent. A reporter bound by professional secrecy (a role attribute of the directory) cannot
rely on a reporter's duty: an adult's agreement is needed unless the person is a minor or in
immediate danger (Code pénal 226-14, 122-7). The consent state of a case is
the set of (category, role) pairs the person agreed to, each with its expiry and consent id;
a withdrawal removes pairs at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.contracts.enums import AgencyRole, DataCategory, LawfulBasis
from hub.contracts.events import ConsentGiven, ConsentWithdrawn
from hub.runtime.config_files import load_config

CONSENT_FILE = "consent.yaml"
CONSENT_BASIS = "consent:"
"""How a share's basis starts when the person's consent allows it (else ``exception:...``)."""
EXCEPTION_BASIS = "exception:"
NO_PERSONAL_DATA = "no personal data"
ALL_CATEGORIES = frozenset(c for c in DataCategory if c is not DataCategory.UNKNOWN)
ALL_ROLES = frozenset(r for r in AgencyRole if r is not AgencyRole.UNKNOWN)


class NeedRule(BaseModel):
    """The categories a recipient role needs to act on one message type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_type: str
    recipient_role: AgencyRole
    required: frozenset[DataCategory] = frozenset()
    optional: frozenset[DataCategory] = frozenset()
    purpose: str


class Condition(StrEnum):
    """What must be true of the case for a legal exception to apply."""

    LEGAL_DUTY_OF_REPORTER = "LEGAL_DUTY_OF_REPORTER"
    """The reporter's role is bound by a duty to report (``reporter_roles``: CPP art. 40)."""
    VITAL_INTEREST_IMMEDIATE_DANGER = "VITAL_INTEREST_IMMEDIATE_DANGER"
    """The person is in immediate danger (the report's flag or urgency): GDPR 6(1)(d)."""
    MINOR = "MINOR"
    """The person is, or is presumed to be, a minor."""
    OWN_APPLICATION = "OWN_APPLICATION"
    """The person's own application (the permit entry that the pathway work removes)."""
    REPORT_FROM_THE_PUBLIC = "REPORT_FROM_THE_PUBLIC"
    """A report from the public to the body designated to triage it: the person it is about
    cannot be asked first (message types and recipient roles bound it)."""

    @property
    def bound_by_secrecy(self) -> bool:
        """Whether a reporter bound by professional secrecy cannot rely on this condition."""
        return self is Condition.LEGAL_DUTY_OF_REPORTER


@dataclass(frozen=True)
class Situation:
    """What the exceptions look at: the person, and who reports them."""

    minor: bool = False
    immediate_danger: bool = False
    reporter_role: AgencyRole = AgencyRole.UNKNOWN
    reporter_secrecy: bool = False
    """The reporter's role is bound by professional secrecy (directory ``secrecy_bound_roles``)."""


class LegalException(BaseModel):
    """A named legal basis for sharing the required categories without consent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    condition: Condition
    message_types: frozenset[str]
    recipient_roles: frozenset[AgencyRole]
    reporter_roles: frozenset[AgencyRole] = Field(
        default=frozenset(),
        description="LEGAL_DUTY_OF_REPORTER only: the reporter roles bound by the duty.",
    )
    source: str = Field(min_length=3, description="The legal text this exception rests on.")
    lawful_basis: frozenset[LawfulBasis] = Field(
        min_length=1, description="The GDPR bases of what it shares without consent."
    )
    law: tuple[str, ...] = Field(min_length=1, description="Row ids in docs/LAW.md.")

    @model_validator(mode="after")
    def _duty_names_its_reporters(self) -> LegalException:
        duty = self.condition is Condition.LEGAL_DUTY_OF_REPORTER
        if duty != bool(self.reporter_roles):
            raise ValueError(
                "reporter_roles se donne avec une obligation de signalement, et seulement avec elle"
            )
        return self

    def applies(self, situation: Situation) -> bool:
        """Whether the case meets this exception's condition (secrecy aside)."""
        if self.condition is Condition.MINOR:
            return situation.minor
        if self.condition is Condition.VITAL_INTEREST_IMMEDIATE_DANGER:
            return situation.immediate_danger
        if self.condition is Condition.LEGAL_DUTY_OF_REPORTER:
            return situation.reporter_role in self.reporter_roles
        return self.condition in (Condition.OWN_APPLICATION, Condition.REPORT_FROM_THE_PUBLIC)


class ConsentPolicy(BaseModel):
    """Needs per (message type, recipient role), legal exceptions, and the hold time limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hold_timeout_hours: int = Field(default=72, ge=1)
    law_enforcement_roles: frozenset[AgencyRole] = Field(
        default=frozenset(),
        description="Recipients that process under the Law Enforcement Directive 2016/680.",
    )
    needs: tuple[NeedRule, ...]
    exceptions: tuple[LegalException, ...] = ()

    @classmethod
    def load(cls, config_dir: Path) -> ConsentPolicy:
        """Load and validate ``consent.yaml``."""
        return load_config(config_dir / CONSENT_FILE, cls)

    def need(self, message_type: str, role: AgencyRole) -> NeedRule | None:
        """What ``role`` needs of ``message_type``; None means it gets no personal data."""
        for rule in self.needs:
            if rule.message_type == message_type and rule.recipient_role is role:
                return rule
        return None

    def exception(
        self, message_type: str, role: AgencyRole, situation: Situation
    ) -> LegalException | None:
        """The legal exception that lets ``role`` receive ``message_type`` without consent.

        A reporter's duty never lifts professional secrecy: a reporter bound by it needs the
        adult's agreement (Code pénal 226-14 2°). A minor (226-14 1°: no agreement needed)
        or an immediate danger (122-7, état de nécessité) still does."""
        for entry in self.exceptions:
            if (
                message_type in entry.message_types
                and role in entry.recipient_roles
                and entry.applies(situation)
                and not (situation.reporter_secrecy and entry.condition.bound_by_secrecy)
            ):
                return entry
        return None


class Permission(BaseModel):
    """Consent for one (category, role) pair: which consent gave it, and until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: DataCategory
    role: AgencyRole
    consent_id: UUID
    expires_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        """True while the consent has not expired."""
        return self.expires_at is None or now < self.expires_at


class ConsentState(BaseModel):
    """What one person agreed to share, with whom: a set of (category, role) permissions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    permissions: tuple[Permission, ...] = ()

    def given(self, event: ConsentGiven) -> ConsentState:
        """The state after a consent is recorded (a newer grant of a pair replaces the old)."""
        granted = {
            (category, role): Permission(
                category=category,
                role=role,
                consent_id=event.consent_id,
                expires_at=event.expires_at,
            )
            for category in event.categories
            for role in event.recipient_roles
        }
        kept = [p for p in self.permissions if (p.category, p.role) not in granted]
        return ConsentState(permissions=(*kept, *granted.values()))

    def withdrawn(self, event: ConsentWithdrawn) -> tuple[ConsentState, Withdrawal]:
        """The state after a withdrawal, and what was withdrawn (null fields mean "all")."""
        categories = frozenset(event.categories) if event.categories is not None else ALL_CATEGORIES
        roles = frozenset(event.recipient_roles) if event.recipient_roles is not None else ALL_ROLES
        removed = [
            p
            for p in self.permissions
            if p.category in categories
            and p.role in roles
            and (event.consent_id is None or p.consent_id == event.consent_id)
        ]
        kept = tuple(p for p in self.permissions if p not in removed)
        return ConsentState(permissions=kept), Withdrawal(categories=categories, roles=roles)

    def covered(self, role: AgencyRole, now: datetime) -> frozenset[DataCategory]:
        """The categories the person consented to share with ``role``, valid at ``now``."""
        return frozenset(p.category for p in self.permissions if p.role is role and p.valid_at(now))

    def consent_ids(self, role: AgencyRole, categories: Iterable[DataCategory]) -> list[UUID]:
        """Which consents cover ``categories`` for ``role`` (for the audit trail)."""
        wanted = set(categories)
        return sorted(
            {p.consent_id for p in self.permissions if p.role is role and p.category in wanted},
            key=str,
        )


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal covered: categories and roles (all of them when the event said so)."""

    categories: frozenset[DataCategory]
    roles: frozenset[AgencyRole]


@dataclass(frozen=True)
class Share:
    """Sharing is allowed: these categories, on this basis (consent ids or a legal exception),
    of which ``consented`` rest on the person's consent (withdrawal notices go to those)."""

    allowed: frozenset[DataCategory]
    basis: str
    consented: frozenset[DataCategory] = frozenset()
    exception: LegalException | None = None


@dataclass(frozen=True)
class ConsentGap:
    """Sharing is not covered yet: the required categories consent does not cover."""

    missing: frozenset[DataCategory]
    role: AgencyRole


def decide_sharing(
    policy: ConsentPolicy,
    state: ConsentState,
    *,
    message_type: str,
    role: AgencyRole,
    situation: Situation,
    now: datetime,
) -> Share | ConsentGap:
    """May ``message_type`` be shared with ``role`` now, and with which categories?

    A named legal exception whose condition the situation meets shares the *required*
    categories without consent. Otherwise the required categories must all be covered by
    consent (else the message is held). Either way the optional ones are shared only where
    consent covers them.
    """
    need = policy.need(message_type, role)
    if need is None:
        return Share(allowed=frozenset(), basis=NO_PERSONAL_DATA)
    covered = state.covered(role, now)
    optional = need.optional & covered
    exception = policy.exception(message_type, role, situation)
    if exception is not None:
        basis = EXCEPTION_BASIS + exception.name
        if optional:
            ids = state.consent_ids(role, optional)
            basis += ";" + CONSENT_BASIS + ",".join(str(i) for i in ids)
        return Share(
            allowed=need.required | optional,
            basis=basis,
            consented=optional,
            exception=exception,
        )
    missing = need.required - covered
    if missing:
        return ConsentGap(missing=missing, role=role)
    allowed = need.required | optional
    if not allowed:
        return Share(allowed=allowed, basis=NO_PERSONAL_DATA)
    ids = state.consent_ids(role, allowed)
    return Share(
        allowed=allowed, basis=CONSENT_BASIS + ",".join(str(i) for i in ids), consented=allowed
    )
