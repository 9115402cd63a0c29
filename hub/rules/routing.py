"""Who receives what: routing rules as data, and the selection of recipient agencies.

``deploy/config/routing.yaml`` maps each message type to the roles that receive it, how the
agency of each role is selected, and which sender roles may publish it. Selection returns
candidates in order of preference (département, then région, then national network); the
first gets the message, and a decline moves the request to the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from hub.contracts.enums import AgencyRole, ExploitationType, Gender, Specialism, Urgency
from hub.rules.derived_values import DerivedOnce
from hub.rules.directory import SPECIALISM_FOR_EXPLOITATION, Agency, AgencyId, Directory
from hub.runtime.config_files import load_config

ROUTING_FILE = "routing.yaml"


class Selection(StrEnum):
    """How the agency of a recipient role is chosen."""

    PREFECTURE_OF_DEPARTEMENT = "prefecture_of_departement"
    ACCOMMODATION_BY_NEED = "accommodation_by_need"
    ASSOCIATION_BY_SPECIALISM = "association_by_specialism"
    ALL_IN_DEPARTEMENT = "all_in_departement"
    COMPETENT_AUTHORITY = "competent_authority"
    REQUESTER = "requester"
    DESIGNATED = "designated"
    """The agencies the rule names (``agencies``), in order: a body designated for a task,
    e.g. the triage of reports from the public."""


class RecipientRule(BaseModel):
    """One recipient role of a message type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: AgencyRole
    select: Selection
    only_minors: bool = False
    only_adults: bool = False
    needs_answer: bool = False
    agencies: tuple[AgencyId, ...] = ()
    """``designated`` only: the agencies designated, first choice first."""

    @model_validator(mode="after")
    def _one_age_limit(self) -> RecipientRule:
        if self.only_minors and self.only_adults:
            raise ValueError(
                "un destinataire ne peut pas être à la fois réservé aux mineurs et aux adultes"
            )
        if (self.select is Selection.DESIGNATED) != bool(self.agencies):
            raise ValueError("agencies se donne avec select: designated, et seulement avec lui")
        return self

    def for_age_of(self, facts: RouteFacts) -> bool:
        """Whether the role is called for the person's age (minor or adult)."""
        return not (self.only_minors and not facts.minor) and not (self.only_adults and facts.minor)


class RoutingRule(BaseModel):
    """Who may send a message type, and who receives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_type: str
    senders: frozenset[AgencyRole] | None = None
    recipients: tuple[RecipientRule, ...] = ()
    hub_only: bool = False
    prosecutor_notice_by: frozenset[AgencyRole] = frozenset()
    """Recipient roles bound to notify the prosecutor (CPP art. 40) when they receive it."""


class RoutingRules(DerivedOnce):
    """Every routing rule, validated from ``routing.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifying_roles: frozenset[AgencyRole]
    competent_authority: Mapping[ExploitationType, frozenset[AgencyRole]]
    rules: tuple[RoutingRule, ...]
    public_intake: Mapping[AgencyId, frozenset[str]] = {}
    """Agencies that only carry what the public reports (the public page), and the message
    types each may publish: nothing else. A server open to anyone holds their key, so that
    key must not be able to say what an agency says (docs/WITNESS_REPORTS.md)."""

    @classmethod
    def load(cls, config_dir: Path) -> RoutingRules:
        """Load and validate ``routing.yaml``."""
        return load_config(config_dir / ROUTING_FILE, cls)

    def intake_refusal(self, sender: str, message_type: str) -> str | None:
        """Why ``sender`` may not publish ``message_type``: a public intake sends only its
        message types, and only a public intake sends them (None: allowed here)."""
        allowed = self.public_intake.get(sender)
        if allowed is None:
            if any(message_type in types for types in self.public_intake.values()):
                return f"only the public intake sends {message_type}; {sender} may not"
            return None
        if message_type in allowed:
            return None
        return f"{sender} carries reports from the public only; it may not send {message_type}"

    def for_type(self, message_type: str) -> RoutingRule | None:
        """The rule for ``message_type``, if the hub accepts it at all."""
        return self._by_type.get(message_type)

    @cached_property
    def _by_type(self) -> dict[str, RoutingRule]:
        """The first rule of each message type: built on first use (read several times per
        event; a cached property, where a pydantic private attribute is slow to read)."""
        by_type: dict[str, RoutingRule] = {}
        for rule in self.rules:
            by_type.setdefault(rule.message_type, rule)
        return by_type


@dataclass(frozen=True)
class RouteFacts:
    """What selection looks at, taken from the event and the case so far."""

    departement: str | None
    exploitation_types: frozenset[ExploitationType] = frozenset()
    minor: bool = False
    urgency: Urgency = Urgency.UNKNOWN
    immediate_danger: bool = False
    gender: Gender | None = None
    disability: bool = False
    remote_placement: bool = False
    requester: str | None = None
    excluded: frozenset[str] = field(default_factory=frozenset)


def facts_of(record: Mapping[str, Any], case: RouteFacts) -> RouteFacts:
    """Selection facts of one event record, completed by what the case already knows."""
    needs = record.get("needs") or {}
    person = record.get("person") or {}
    departement = (
        needs.get("preferred_departement")
        or record.get("departement")
        or person.get("residence_departement")
        or case.departement
    )
    types = frozenset(record.get("exploitation_types") or ()) or case.exploitation_types
    minor = bool(record.get("minor_suspected")) or bool(person.get("is_minor")) or case.minor
    return RouteFacts(
        departement=departement,
        exploitation_types=frozenset(ExploitationType(t) for t in types),
        minor=minor,
        urgency=Urgency(record.get("urgency") or needs.get("urgency") or case.urgency),
        immediate_danger=bool(record.get("immediate_danger")) or case.immediate_danger,
        gender=Gender(needs["gender"]) if needs.get("gender") else case.gender,
        disability=bool(needs.get("wheelchair_access") or needs.get("disability_needs")),
        remote_placement=bool(needs.get("remote_placement")),
        requester=case.requester,
        excluded=case.excluded,
    )


def called_for(rule: RecipientRule, facts: RouteFacts, rules: RoutingRules) -> bool:
    """Whether the case calls for this recipient role at all (a minors-only role for an
    adult, or an authority not competent for the exploitation type, is not called for)."""
    if not rule.for_age_of(facts):
        return False
    if rule.select is Selection.COMPETENT_AUTHORITY:
        return rule.role in _competent_roles(facts, rules)
    return True


def _competent_roles(facts: RouteFacts, rules: RoutingRules) -> set[AgencyRole]:
    competent: set[AgencyRole] = set()
    for kind in facts.exploitation_types or {ExploitationType.UNKNOWN}:
        competent |= rules.competent_authority.get(kind, {AgencyRole.POLICE_GENDARMERIE})
    # Danger is either the report's flag or its urgency: both mean the police are informed.
    if facts.immediate_danger or facts.urgency is Urgency.IMMEDIATE_DANGER:
        competent.add(AgencyRole.POLICE_GENDARMERIE)
    return competent


def candidates(
    rule: RecipientRule, facts: RouteFacts, directory: Directory, rules: RoutingRules
) -> list[Agency]:
    """Eligible agencies for one recipient rule, best first (empty: nobody is eligible)."""
    if not rule.for_age_of(facts):
        return []
    found = _select(rule, facts, directory, rules)
    return [a for a in found if a.id not in facts.excluded]


def _select(
    rule: RecipientRule, facts: RouteFacts, directory: Directory, rules: RoutingRules
) -> list[Agency]:
    if rule.select is Selection.REQUESTER:
        agency = directory.get(facts.requester) if facts.requester else None
        return [agency] if agency is not None else []
    if rule.select is Selection.DESIGNATED:
        named = (directory.get(agency_id) for agency_id in rule.agencies)
        return [a for a in named if a is not None and a.role is rule.role]
    if facts.departement is None:
        return []
    if rule.select is Selection.PREFECTURE_OF_DEPARTEMENT:
        return [
            a
            for a in directory.by_role(AgencyRole.PREFECTURE)
            if facts.departement in a.departements
        ]
    if rule.select is Selection.ALL_IN_DEPARTEMENT:
        return [a for a in directory.by_role(rule.role) if a.serves(facts.departement)]
    if rule.select is Selection.ACCOMMODATION_BY_NEED:
        return _accommodation(facts, directory)
    if rule.select is Selection.ASSOCIATION_BY_SPECIALISM:
        return _by_specialism(directory.near(rule.role, facts.departement), facts)
    if rule.select is Selection.COMPETENT_AUTHORITY:
        return _competent(rule.role, facts, directory, rules)
    raise AssertionError(f"unhandled selection {rule.select}")  # pragma: no cover


def _wanted_specialisms(facts: RouteFacts) -> set[Specialism]:
    wanted = {
        SPECIALISM_FOR_EXPLOITATION[t]
        for t in facts.exploitation_types
        if t in SPECIALISM_FOR_EXPLOITATION
    }
    if facts.minor:
        wanted.add(Specialism.MINORS)
    return wanted


def _by_specialism(agencies: list[Agency], facts: RouteFacts) -> list[Agency]:
    """Agencies in the same circle order, those matching a wanted specialism first, then the
    others: a declining specialist passes the request on to a generalist, not to nobody."""
    wanted = _wanted_specialisms(facts)
    matching = [a for a in agencies if a.specialisms & wanted]
    return matching + [a for a in agencies if a not in matching]


def _accommodation(facts: RouteFacts, directory: Directory) -> list[Agency]:
    """Providers that accept, have a free place and fit the person's needs.

    Département first, then région, then the national network; when remote placement is
    asked for the person's safety, the national network comes first.
    """
    assert facts.departement is not None
    near = directory.near(AgencyRole.ACCOMMODATION_PROVIDER, facts.departement)
    fitting = [
        a
        for a in near
        if a.accepting
        and (a.capacity is None or a.capacity > 0)
        and (not a.genders or facts.gender is None or facts.gender in a.genders)
        and (not facts.disability or Specialism.DISABILITY_ACCESS in a.specialisms)
    ]
    ordered = _by_specialism(fitting, facts)
    if facts.remote_placement:
        ordered = [a for a in ordered if a.national] + [a for a in ordered if not a.national]
    return ordered


def _competent(
    role: AgencyRole, facts: RouteFacts, directory: Directory, rules: RoutingRules
) -> list[Agency]:
    """The identifying authority of ``role`` for the case, if the case calls for that role.

    Each exploitation type names its competent roles (policy data); immediate danger always
    calls the police, whatever the type.
    """
    assert facts.departement is not None
    if role not in _competent_roles(facts, rules):
        return []
    return [a for a in directory.near(role, facts.departement) if not a.national][:1]
