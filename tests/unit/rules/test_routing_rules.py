"""Who receives what, as deploy/config/routing.yaml and docs/ROUTING.md promise it.

Each table row is one promise, checked against the committed routing rules and a small
directory built here (so a row names the agencies it expects). "Receives" means what the
routing doc says: the first candidate gets the message, except for an ``all_in_departement``
role, where every agency of the role serving the département does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.contracts.enums import AgencyRole, ExploitationType, Gender, Specialism, Urgency
from hub.rules.directory import Agency, Directory
from hub.rules.routing import RouteFacts, RoutingRules, Selection, called_for, candidates, facts_of
from hub.runtime.settings import PROJECT_ROOT

RULES = RoutingRules.load(PROJECT_ROOT / "deploy" / "config")

REPORT = "fr.nrm.PresumedVictimReport"
REFERRAL = "fr.nrm.ReferralOpened"
ACCOMMODATION = "fr.nrm.AccommodationRequested"
SUPPORT = "fr.nrm.SupportRequested"
PERMIT = "fr.nrm.PermitRequested"
ACK = "fr.nrm.Acknowledgement"

Role = AgencyRole
LABOUR, SEXUAL = ExploitationType.LABOUR, ExploitationType.SEXUAL
DOMESTIC = ExploitationType.DOMESTIC_SERVITUDE


def agency(agency_id: str, role: AgencyRole, *departements: str, **extra: Any) -> Agency:
    return Agency(id=agency_id, name=agency_id, role=role, departements=departements, **extra)


DIRECTORY = Directory(
    [
        agency("pref-93", Role.PREFECTURE, "93"),
        agency("pref-75", Role.PREFECTURE, "75"),
        agency("police-93", Role.POLICE_GENDARMERIE, "93"),
        agency("police-94", Role.POLICE_GENDARMERIE, "94"),
        agency("inspection-93", Role.LABOUR_INSPECTORATE, "93"),
        agency("ase-93", Role.CHILD_PROTECTION, "93"),
        agency("ase-75", Role.CHILD_PROTECTION, "75"),
        agency("parquet-93", Role.JUVENILE_PROSECUTOR, "93"),
        agency("parquet-93-bis", Role.JUVENILE_PROSECUTOR, "93"),
        agency("assoc-93", Role.SUPPORT_ASSOCIATION, "93"),
        agency(
            "assoc-93-sexual",
            Role.SUPPORT_ASSOCIATION,
            "93",
            specialisms=frozenset({Specialism.SEXUAL_EXPLOITATION}),
        ),
        agency(
            "assoc-94-minors",
            Role.SUPPORT_ASSOCIATION,
            "94",
            specialisms=frozenset({Specialism.MINORS}),
        ),
        agency("assoc-13", Role.SUPPORT_ASSOCIATION, "13"),
        agency("assoc-national", Role.SUPPORT_ASSOCIATION, national=True),
        agency(
            "heb-93-women", Role.ACCOMMODATION_PROVIDER, "93", genders=frozenset({Gender.FEMALE})
        ),
        agency("heb-93-full", Role.ACCOMMODATION_PROVIDER, "93", capacity=0),
        agency("heb-93-closed", Role.ACCOMMODATION_PROVIDER, "93", accepting=False),
        agency("heb-94", Role.ACCOMMODATION_PROVIDER, "94", capacity=3),
        agency(
            "heb-95-access",
            Role.ACCOMMODATION_PROVIDER,
            "95",
            specialisms=frozenset({Specialism.DISABILITY_ACCESS}),
        ),
        agency("heb-13", Role.ACCOMMODATION_PROVIDER, "13"),
        agency("heb-national", Role.ACCOMMODATION_PROVIDER, national=True),
    ],
    {"75": "IDF", "93": "IDF", "94": "IDF", "95": "IDF", "13": "PAC", "06": "PAC", "2A": "COR"},
)


def receivers(
    message_type: str, facts: RouteFacts, directory: Directory = DIRECTORY
) -> dict[AgencyRole, tuple[str, ...]]:
    """Every role the message calls for, with the agencies that receive it (empty: nobody)."""
    rule = RULES.for_type(message_type)
    assert rule is not None, f"no routing rule for {message_type}"
    found: dict[AgencyRole, tuple[str, ...]] = {}
    for recipient in rule.recipients:
        if not called_for(recipient, facts, RULES):
            continue
        chosen = [a.id for a in candidates(recipient, facts, directory, RULES)]
        every = recipient.select is Selection.ALL_IN_DEPARTEMENT
        found[recipient.role] = tuple(chosen if every else chosen[:1])
    return found


@dataclass(frozen=True)
class Case:
    message_type: str
    facts: RouteFacts
    expected: Mapping[AgencyRole, tuple[str, ...]]
    marks: tuple[Any, ...] = field(default=())


def facts(departement: str | None = "93", **extra: Any) -> RouteFacts:
    return RouteFacts(departement=departement, **extra)


WHO_RECEIVES = {
    # Permits: the prefecture of the person's département, and no other.
    "test_permit_request_goes_to_the_prefecture_of_the_persons_departement": Case(
        PERMIT, facts("93"), {Role.PREFECTURE: ("pref-93",)}
    ),
    "test_prefecture_of_another_departement_never_receives_a_permit_request": Case(
        PERMIT, facts("13"), {Role.PREFECTURE: ()}
    ),
    "test_permit_request_without_a_departement_reaches_no_prefecture": Case(
        PERMIT, facts(None), {Role.PREFECTURE: ()}
    ),
    # Reports: the identifying authority competent for the exploitation type.
    # Labour trafficking is a crime (Code pénal 225-4-1): the police receive it too (CA-3).
    "test_labour_exploitation_report_goes_to_the_labour_inspectorate_and_the_police": Case(
        REPORT,
        facts(exploitation_types=frozenset({LABOUR})),
        {Role.LABOUR_INSPECTORATE: ("inspection-93",), Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_sexual_exploitation_report_goes_to_the_police_not_the_labour_inspectorate": Case(
        REPORT,
        facts(exploitation_types=frozenset({SEXUAL})),
        {Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_domestic_servitude_report_goes_to_both_identifying_authorities": Case(
        REPORT,
        facts(exploitation_types=frozenset({DOMESTIC})),
        {Role.LABOUR_INSPECTORATE: ("inspection-93",), Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_report_of_unknown_exploitation_goes_to_the_police": Case(
        REPORT, facts(), {Role.POLICE_GENDARMERIE: ("police-93",)}
    ),
    "test_report_of_a_person_in_immediate_danger_always_reaches_the_police": Case(
        REPORT,
        facts(exploitation_types=frozenset({LABOUR}), immediate_danger=True),
        {Role.LABOUR_INSPECTORATE: ("inspection-93",), Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_report_of_immediate_danger_urgency_always_reaches_the_police": Case(
        REPORT,
        facts(exploitation_types=frozenset({LABOUR}), urgency=Urgency.IMMEDIATE_DANGER),
        {Role.LABOUR_INSPECTORATE: ("inspection-93",), Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_report_goes_to_the_authority_of_the_persons_departement": Case(
        REPORT,
        facts("94", exploitation_types=frozenset({SEXUAL})),
        {Role.POLICE_GENDARMERIE: ("police-94",)},
    ),
    "test_adult_report_never_goes_to_child_protection_or_the_juvenile_prosecutor": Case(
        REPORT,
        facts(exploitation_types=frozenset({SEXUAL}), minor=False),
        {Role.POLICE_GENDARMERIE: ("police-93",)},
    ),
    "test_minors_report_also_goes_to_every_child_protection_and_juvenile_prosecutor_there": Case(
        REPORT,
        facts(exploitation_types=frozenset({SEXUAL}), minor=True),
        {
            Role.POLICE_GENDARMERIE: ("police-93",),
            Role.CHILD_PROTECTION: ("ase-93",),
            Role.JUVENILE_PROSECUTOR: ("parquet-93", "parquet-93-bis"),
        },
    ),
    "test_minors_report_where_no_child_protection_serves_is_called_for_but_reaches_nobody": Case(
        REPORT,
        facts("94", exploitation_types=frozenset({SEXUAL}), minor=True),
        {
            Role.POLICE_GENDARMERIE: ("police-94",),
            Role.CHILD_PROTECTION: (),
            Role.JUVENILE_PROSECUTOR: (),
        },
    ),
    # Referrals and support: an association, by specialism, nearest first.
    "test_adult_referral_goes_to_one_support_association_only": Case(
        REFERRAL, facts(), {Role.SUPPORT_ASSOCIATION: ("assoc-93",)}
    ),
    "test_minors_referral_also_goes_to_child_protection_and_juvenile_prosecutor": Case(
        REFERRAL,
        facts(minor=True),
        {
            Role.SUPPORT_ASSOCIATION: ("assoc-94-minors",),
            Role.CHILD_PROTECTION: ("ase-93",),
            Role.JUVENILE_PROSECUTOR: ("parquet-93", "parquet-93-bis"),
        },
    ),
    "test_sexual_exploitation_support_goes_to_the_specialised_association": Case(
        SUPPORT,
        facts(exploitation_types=frozenset({SEXUAL})),
        {Role.SUPPORT_ASSOCIATION: ("assoc-93-sexual",)},
    ),
    "test_support_in_a_departement_without_association_goes_to_the_region": Case(
        SUPPORT, facts("06"), {Role.SUPPORT_ASSOCIATION: ("assoc-13",)}
    ),
    "test_support_in_a_region_without_association_goes_to_the_national_network": Case(
        SUPPORT, facts("2A"), {Role.SUPPORT_ASSOCIATION: ("assoc-national",)}
    ),
    # Accommodation: accepting, a free place, fitting the person's needs.
    "test_woman_is_placed_in_a_fitting_shelter_of_her_departement": Case(
        ACCOMMODATION,
        facts(gender=Gender.FEMALE),
        {Role.ACCOMMODATION_PROVIDER: ("heb-93-women",)},
    ),
    "test_man_is_never_placed_in_a_women_only_full_or_closed_shelter": Case(
        ACCOMMODATION, facts(gender=Gender.MALE), {Role.ACCOMMODATION_PROVIDER: ("heb-94",)}
    ),
    "test_person_needing_disability_access_goes_to_an_accessible_shelter": Case(
        ACCOMMODATION,
        facts(gender=Gender.FEMALE, disability=True),
        {Role.ACCOMMODATION_PROVIDER: ("heb-95-access",)},
    ),
    "test_remote_placement_for_safety_puts_the_national_network_first": Case(
        ACCOMMODATION,
        facts(gender=Gender.FEMALE, remote_placement=True),
        {Role.ACCOMMODATION_PROVIDER: ("heb-national",)},
    ),
    "test_accommodation_in_a_departement_without_provider_goes_to_the_region": Case(
        ACCOMMODATION, facts("06"), {Role.ACCOMMODATION_PROVIDER: ("heb-13",)}
    ),
    # A minor is taken in by child protection (CASF L223-2), never by an adult provider.
    "test_a_minors_accommodation_goes_to_child_protection_not_to_a_shelter": Case(
        ACCOMMODATION,
        facts(minor=True, gender=Gender.FEMALE),
        {Role.CHILD_PROTECTION: ("ase-93",)},
    ),
    "test_a_minors_accommodation_never_goes_to_the_national_adult_network": Case(
        ACCOMMODATION,
        facts("2A", minor=True, remote_placement=True),
        {Role.CHILD_PROTECTION: ()},
    ),
    "test_an_adults_accommodation_never_goes_to_child_protection": Case(
        ACCOMMODATION,
        facts(gender=Gender.FEMALE),
        {Role.ACCOMMODATION_PROVIDER: ("heb-93-women",)},
    ),
    # Answers go back to whoever asked.
    "test_acknowledgement_goes_back_to_the_requester": Case(
        ACK, facts(requester="pref-75"), {Role.UNKNOWN: ("pref-75",)}
    ),
    "test_acknowledgement_to_a_requester_no_longer_in_the_directory_reaches_nobody": Case(
        ACK, facts(requester="gone-agency"), {Role.UNKNOWN: ()}
    ),
    # A decline excludes the agency; the request moves to the next one.
    "test_declined_prefecture_never_receives_the_request_again": Case(
        PERMIT, facts(excluded=frozenset({"pref-93"})), {Role.PREFECTURE: ()}
    ),
    "test_declined_shelter_passes_the_request_to_the_next_fitting_one": Case(
        ACCOMMODATION,
        facts(gender=Gender.MALE, excluded=frozenset({"heb-94"})),
        {Role.ACCOMMODATION_PROVIDER: ("heb-95-access",)},
    ),
    "test_declined_specialised_association_passes_the_request_to_the_next_association": Case(
        SUPPORT,
        facts(exploitation_types=frozenset({SEXUAL}), excluded=frozenset({"assoc-93-sexual"})),
        {Role.SUPPORT_ASSOCIATION: ("assoc-93",)},
    ),
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=name, marks=case.marks) for name, case in WHO_RECEIVES.items()],
)
def test_who_receives_what(case: Case) -> None:
    assert receivers(case.message_type, case.facts) == dict(case.expected)


ACCOMMODATION_ORDER = {
    "test_shelters_are_offered_departement_then_region_then_national_network": (
        facts("93", gender=Gender.FEMALE),
        ("heb-93-women", "heb-94", "heb-95-access", "heb-national"),
    ),
    "test_remote_placement_offers_the_national_network_before_anything_near": (
        facts("93", gender=Gender.FEMALE, remote_placement=True),
        ("heb-national", "heb-93-women", "heb-94", "heb-95-access"),
    ),
}


@pytest.mark.parametrize(
    ("route_facts", "expected"),
    list(ACCOMMODATION_ORDER.values()),
    ids=list(ACCOMMODATION_ORDER),
)
def test_accommodation_candidates_in_order_of_preference(
    route_facts: RouteFacts, expected: tuple[str, ...]
) -> None:
    rule = RULES.for_type(ACCOMMODATION)
    assert rule is not None
    found = candidates(rule.recipients[0], route_facts, DIRECTORY, RULES)
    assert tuple(a.id for a in found) == expected


SENDERS = {
    "test_police_may_open_a_referral": (REFERRAL, Role.POLICE_GENDARMERIE, True),
    "test_labour_inspectorate_may_open_a_referral": (REFERRAL, Role.LABOUR_INSPECTORATE, True),
    "test_support_association_may_not_open_a_referral": (
        REFERRAL,
        Role.SUPPORT_ASSOCIATION,
        False,
    ),
    "test_prefecture_may_not_open_a_referral": (REFERRAL, Role.PREFECTURE, False),
    "test_only_identifying_authorities_decide_on_identification": (
        "fr.nrm.IdentificationDecision",
        Role.SUPPORT_ASSOCIATION,
        False,
    ),
    "test_labour_inspectorate_decides_on_identification": (
        "fr.nrm.IdentificationDecision",
        Role.LABOUR_INSPECTORATE,
        True,
    ),
    "test_health_services_may_request_support": (SUPPORT, Role.HEALTH, True),
    "test_health_services_may_not_request_accommodation": (ACCOMMODATION, Role.HEALTH, False),
    "test_prefecture_may_not_request_a_permit_from_itself": (PERMIT, Role.PREFECTURE, False),
    "test_support_association_may_request_a_permit": (PERMIT, Role.SUPPORT_ASSOCIATION, True),
}


@pytest.mark.parametrize(
    ("message_type", "sender", "allowed"), list(SENDERS.values()), ids=list(SENDERS)
)
def test_who_may_send_what(message_type: str, sender: AgencyRole, allowed: bool) -> None:
    rule = RULES.for_type(message_type)
    assert rule is not None
    assert rule.senders is not None, f"{message_type} names who may send it"
    assert (sender in rule.senders) is allowed


HUB_ONLY = {
    "test_escalations_are_emitted_by_the_hub_only": ("fr.nrm.Escalation", None),
    "test_dead_letters_are_emitted_by_the_hub_only": ("fr.nrm.DeadLetter", None),
    "test_audit_entries_are_emitted_by_the_hub_only": ("fr.nrm.AuditEntry", None),
    "test_consent_given_is_kept_by_the_hub_and_not_forwarded": ("fr.nrm.ConsentGiven", True),
    "test_consent_withdrawn_is_kept_by_the_hub_and_not_forwarded": (
        "fr.nrm.ConsentWithdrawn",
        True,
    ),
    "test_safety_flags_are_kept_by_the_hub_and_not_forwarded": ("fr.nrm.SafetyFlagsSet", True),
    "test_case_closure_is_kept_by_the_hub_and_not_forwarded": ("fr.nrm.CaseClosed", True),
}


@pytest.mark.parametrize(("message_type", "kept"), list(HUB_ONLY.values()), ids=list(HUB_ONLY))
def test_what_no_agency_receives(message_type: str, kept: bool | None) -> None:
    rule = RULES.for_type(message_type)
    if kept is None:
        assert rule is None, f"an agency may publish {message_type}"
    else:
        assert rule is not None
        assert rule.hub_only
        assert rule.recipients == ()


NEEDS_ANSWER = {
    "test_identifying_authorities_owe_an_answer_to_a_report": (
        REPORT,
        {Role.LABOUR_INSPECTORATE, Role.POLICE_GENDARMERIE},
    ),
    "test_a_shelter_or_child_protection_owes_an_answer_to_an_accommodation_request": (
        ACCOMMODATION,
        {Role.ACCOMMODATION_PROVIDER, Role.CHILD_PROTECTION},
    ),
    "test_an_association_owes_an_answer_to_a_support_request": (
        SUPPORT,
        {Role.SUPPORT_ASSOCIATION},
    ),
    "test_the_prefecture_owes_an_answer_to_a_permit_request": (PERMIT, {Role.PREFECTURE}),
    "test_nobody_owes_an_answer_to_a_referral": (REFERRAL, set()),
    "test_nobody_owes_an_answer_to_an_acknowledgement": (ACK, set()),
}


@pytest.mark.parametrize(
    ("message_type", "answering"), list(NEEDS_ANSWER.values()), ids=list(NEEDS_ANSWER)
)
def test_who_owes_an_answer(message_type: str, answering: set[AgencyRole]) -> None:
    rule = RULES.for_type(message_type)
    assert rule is not None
    assert {r.role for r in rule.recipients if r.needs_answer} == answering


def test_only_police_and_labour_inspectorate_formally_identify() -> None:
    assert RULES.identifying_roles == {Role.POLICE_GENDARMERIE, Role.LABOUR_INSPECTORATE}


CASE_SO_FAR = RouteFacts(
    departement="75",
    exploitation_types=frozenset({DOMESTIC}),
    minor=True,
    urgency=Urgency.URGENT,
    gender=Gender.FEMALE,
    requester="pref-75",
)

FACTS_OF = {
    "test_preferred_departement_of_the_needs_wins_over_where_the_person_is": (
        {"departement": "93", "needs": {"preferred_departement": "94"}},
        {"departement": "94"},
    ),
    "test_event_departement_wins_over_the_residence": (
        {"departement": "93", "person": {"residence_departement": "13"}},
        {"departement": "93"},
    ),
    "test_residence_is_used_when_the_event_names_no_departement": (
        {"person": {"residence_departement": "13"}},
        {"departement": "13"},
    ),
    "test_case_departement_is_kept_when_the_event_names_none": ({}, {"departement": "75"}),
    "test_event_exploitation_types_replace_the_cases": (
        {"exploitation_types": ["LABOUR"]},
        {"exploitation_types": frozenset({LABOUR})},
    ),
    "test_case_exploitation_types_are_kept_when_the_event_names_none": (
        {},
        {"exploitation_types": frozenset({DOMESTIC})},
    ),
    "test_a_suspected_minor_is_routed_as_a_minor": (
        {"minor_suspected": True},
        {"minor": True},
    ),
    "test_a_person_recorded_as_minor_is_routed_as_a_minor": (
        {"person": {"is_minor": True}},
        {"minor": True},
    ),
    "test_event_urgency_wins_over_the_cases": (
        {"urgency": "IMMEDIATE_DANGER"},
        {"urgency": Urgency.IMMEDIATE_DANGER},
    ),
    "test_urgency_of_the_needs_is_used_when_the_event_has_none": (
        {"needs": {"urgency": "ROUTINE"}},
        {"urgency": Urgency.ROUTINE},
    ),
    "test_gender_of_the_needs_wins_over_the_cases": (
        {"needs": {"gender": "MALE"}},
        {"gender": Gender.MALE},
    ),
    "test_wheelchair_access_is_a_disability_need": (
        {"needs": {"wheelchair_access": True}},
        {"disability": True},
    ),
    "test_described_disability_needs_are_a_disability_need": (
        {"needs": {"disability_needs": "hearing"}},
        {"disability": True},
    ),
    "test_remote_placement_comes_from_the_needs": (
        {"needs": {"remote_placement": True}},
        {"remote_placement": True},
    ),
    "test_immediate_danger_of_the_event_is_kept": (
        {"immediate_danger": True},
        {"immediate_danger": True},
    ),
    "test_requester_is_the_cases_not_the_events": (
        {"requester": "someone-else"},
        {"requester": "pref-75"},
    ),
}


@pytest.mark.parametrize(("record", "expected"), list(FACTS_OF.values()), ids=list(FACTS_OF))
def test_routing_facts_of_an_event(record: dict[str, Any], expected: dict[str, Any]) -> None:
    found = facts_of(record, CASE_SO_FAR)
    assert {name: getattr(found, name) for name in expected} == expected


def test_a_minor_stays_a_minor_whatever_a_later_event_says() -> None:
    assert facts_of({"minor_suspected": False}, CASE_SO_FAR).minor
