"""Consent before sharing, as deploy/config/consent.yaml and ARCHITECTURE principles 3–4 promise.

Each table row is a story (consents given and withdrawn), a message to one recipient role, and
what ``decide_sharing`` must answer: the categories shared and on which basis, or the required
categories consent does not cover (the message is held). The policy is the committed file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.contracts.enums import AgencyRole, ConsentMethod, DataCategory
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    ConsentGiven,
    ConsentWithdrawn,
)
from hub.rules.consent import (
    ConsentGap,
    ConsentPolicy,
    ConsentState,
    Share,
    Situation,
    decide_sharing,
)
from hub.rules.routing import RoutingRules
from hub.runtime.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "deploy" / "config"
POLICY = ConsentPolicy.load(CONFIG)
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
CASE_ID = uuid.UUID("0b7c4d2e-5f60-4a1b-8c9d-0e1f2a3b4c5d")
C1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
C2 = uuid.UUID("22222222-2222-4222-8222-222222222222")

REPORT = "fr.nrm.PresumedVictimReport"
REFERRAL = "fr.nrm.ReferralOpened"
ACCOMMODATION = "fr.nrm.AccommodationRequested"
SUPPORT = "fr.nrm.SupportRequested"
PERMIT = "fr.nrm.PermitRequested"

Role = AgencyRole
IDENTITY, CONTACT, HEALTH = DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.HEALTH
IMMIGRATION = DataCategory.IMMIGRATION_STATUS
EXPLOITATION = DataCategory.EXPLOITATION_DETAILS
MINOR = DataCategory.MINOR
EVERY_CATEGORY = frozenset(c for c in DataCategory if c is not DataCategory.UNKNOWN)


def _envelope() -> Envelope:
    return Envelope(event_id=uuid.uuid4(), case_id=CASE_ID, occurred_at=NOW)


def grant(
    categories: frozenset[DataCategory],
    *roles: AgencyRole,
    consent: uuid.UUID = C1,
    expires_at: datetime | None = NOW + timedelta(days=365),
    purpose: str = "accompagnement de la victime",
) -> ConsentGiven:
    return ConsentGiven(
        envelope=_envelope(),
        consent_id=consent,
        categories=tuple(sorted(categories)),
        recipient_roles=roles,
        purpose=purpose,
        expires_at=expires_at,
        recorded_by_role=Role.SUPPORT_ASSOCIATION,
        method=ConsentMethod.ORAL_WITH_INTERPRETER,
    )


def withdraw(
    categories: frozenset[DataCategory] | None = None,
    roles: tuple[AgencyRole, ...] | None = None,
    consent: uuid.UUID | None = None,
) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        envelope=_envelope(),
        consent_id=consent,
        categories=tuple(sorted(categories)) if categories is not None else None,
        recipient_roles=roles,
        recorded_by_role=Role.SUPPORT_ASSOCIATION,
    )


def state_after(story: tuple[ConsentGiven | ConsentWithdrawn, ...]) -> ConsentState:
    state = ConsentState()
    for event in story:
        if isinstance(event, ConsentGiven):
            state = state.given(event)
        else:
            state, _ = state.withdrawn(event)
    return state


@dataclass(frozen=True)
class Shared:
    categories: frozenset[DataCategory]
    basis: str


@dataclass(frozen=True)
class Held:
    missing: frozenset[DataCategory]


ADULT_BY_ASSOCIATION = Situation(reporter_role=AgencyRole.SUPPORT_ASSOCIATION)


@dataclass(frozen=True)
class Case:
    story: tuple[ConsentGiven | ConsentWithdrawn, ...]
    message_type: str
    role: AgencyRole
    expected: Shared | Held
    situation: Situation = ADULT_BY_ASSOCIATION
    now: datetime = NOW


MINOR_BY_ASSOCIATION = Situation(minor=True, reporter_role=AgencyRole.SUPPORT_ASSOCIATION)
ADULT_BY_POLICE = Situation(reporter_role=AgencyRole.POLICE_GENDARMERIE)
ADULT_BY_LABOUR_INSPECTOR = Situation(reporter_role=AgencyRole.LABOUR_INSPECTORATE)
ADULT_BY_DOCTOR = Situation(reporter_role=AgencyRole.HEALTH, reporter_secrecy=True)
ADULT_IN_DANGER_BY_ASSOCIATION = Situation(
    immediate_danger=True, reporter_role=AgencyRole.SUPPORT_ASSOCIATION
)
ADULT_IN_DANGER_BY_DOCTOR = Situation(
    immediate_danger=True, reporter_role=AgencyRole.HEALTH, reporter_secrecy=True
)
MINOR_BY_DOCTOR = Situation(minor=True, reporter_role=AgencyRole.HEALTH, reporter_secrecy=True)


def by_consent(*ids: uuid.UUID) -> str:
    return "consent:" + ",".join(sorted(str(i) for i in ids))


NO_DATA = "no personal data"
ALL_SUPPORT = frozenset({IDENTITY, CONTACT, HEALTH, IMMIGRATION, EXPLOITATION, MINOR})

SHARING = {
    # Consent covers what is shared: the required categories or nothing, the optional ones
    # only where consent covers them, never more than the role needs.
    "test_support_request_without_consent_is_held_for_identity": Case(
        (), SUPPORT, Role.SUPPORT_ASSOCIATION, Held(frozenset({IDENTITY}))
    ),
    "test_consent_to_identity_shares_identity_only": Case(
        (grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C1)),
    ),
    "test_optional_category_is_shared_where_consent_covers_it": Case(
        (grant(frozenset({IDENTITY, HEALTH}), Role.SUPPORT_ASSOCIATION),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY, HEALTH}), by_consent(C1)),
    ),
    "test_consent_to_optional_categories_alone_does_not_release_the_message": Case(
        (grant(frozenset({CONTACT, HEALTH}), Role.SUPPORT_ASSOCIATION),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
    ),
    "test_consent_never_widens_sharing_beyond_what_the_role_needs": Case(
        (grant(EVERY_CATEGORY, Role.ACCOMMODATION_PROVIDER),),
        ACCOMMODATION,
        Role.ACCOMMODATION_PROVIDER,
        Shared(frozenset({IDENTITY, CONTACT, HEALTH, MINOR}), by_consent(C1)),
    ),
    "test_consent_given_to_another_role_does_not_cover_this_one": Case(
        (grant(EVERY_CATEGORY, Role.ACCOMMODATION_PROVIDER),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
    ),
    "test_juvenile_prosecutor_of_an_adult_is_held_for_every_required_category": Case(
        (grant(frozenset({IDENTITY}), Role.JUVENILE_PROSECUTOR),),
        REFERRAL,
        Role.JUVENILE_PROSECUTOR,
        Held(frozenset({MINOR, EXPLOITATION})),
    ),
    "test_consent_purpose_is_not_matched_against_the_message": Case(
        (grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, purpose="hébergement"),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C1)),
    ),
    "test_categories_from_two_consents_are_shared_on_both": Case(
        (
            grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, consent=C1),
            grant(frozenset({HEALTH}), Role.SUPPORT_ASSOCIATION, consent=C2),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY, HEALTH}), by_consent(C1, C2)),
    ),
    # Expiry.
    "test_expired_consent_no_longer_covers": Case(
        (grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, expires_at=NOW - timedelta(seconds=1)),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
    ),
    "test_consent_covers_until_its_expiry": Case(
        (grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, expires_at=NOW + timedelta(seconds=1)),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(ALL_SUPPORT, by_consent(C1)),
    ),
    "test_consent_without_expiry_keeps_covering": Case(
        (grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, expires_at=None),),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(ALL_SUPPORT, by_consent(C1)),
        now=NOW + timedelta(days=3650),
    ),
    "test_renewed_consent_replaces_an_expired_one": Case(
        (
            grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, expires_at=NOW, consent=C1),
            grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, consent=C2),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C2)),
    ),
    # Withdrawal stops later sharing at once, within its scope.
    "test_withdrawal_of_everything_stops_all_sharing": Case(
        (grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION), withdraw()),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
    ),
    "test_withdrawal_of_one_category_keeps_sharing_the_others": Case(
        (
            grant(frozenset({IDENTITY, HEALTH}), Role.SUPPORT_ASSOCIATION),
            withdraw(categories=frozenset({HEALTH})),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C1)),
    ),
    "test_withdrawal_of_a_required_category_holds_the_message": Case(
        (
            grant(frozenset({IDENTITY, HEALTH}), Role.SUPPORT_ASSOCIATION),
            withdraw(categories=frozenset({IDENTITY})),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
    ),
    "test_withdrawal_for_one_role_stops_sharing_with_that_role": Case(
        (
            grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, Role.ACCOMMODATION_PROVIDER),
            withdraw(roles=(Role.ACCOMMODATION_PROVIDER,)),
        ),
        ACCOMMODATION,
        Role.ACCOMMODATION_PROVIDER,
        Held(frozenset({IDENTITY})),
    ),
    "test_withdrawal_for_one_role_keeps_sharing_with_the_others": Case(
        (
            grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, Role.ACCOMMODATION_PROVIDER),
            withdraw(roles=(Role.ACCOMMODATION_PROVIDER,)),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(ALL_SUPPORT, by_consent(C1)),
    ),
    "test_withdrawal_of_one_consent_keeps_another_consent": Case(
        (
            grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, consent=C1),
            grant(frozenset({HEALTH}), Role.SUPPORT_ASSOCIATION, consent=C2),
            withdraw(consent=C2),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C1)),
    ),
    "test_consent_given_after_a_withdrawal_covers_again": Case(
        (
            grant(EVERY_CATEGORY, Role.SUPPORT_ASSOCIATION, consent=C1),
            withdraw(),
            grant(frozenset({IDENTITY}), Role.SUPPORT_ASSOCIATION, consent=C2),
        ),
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset({IDENTITY}), by_consent(C2)),
    ),
    # Named legal exceptions share what the role needs without consent, and nothing more.
    # A permit request is the person's choice (CESEDA R425-2): no exception, consent only.
    "test_prefecture_gets_no_permit_request_without_the_persons_consent": Case(
        (), PERMIT, Role.PREFECTURE, Held(frozenset({IDENTITY, IMMIGRATION}))
    ),
    "test_prefecture_gets_no_permit_request_with_identity_consent_alone": Case(
        (grant(frozenset({IDENTITY}), Role.PREFECTURE),),
        PERMIT,
        Role.PREFECTURE,
        Held(frozenset({IMMIGRATION})),
    ),
    "test_prefecture_never_receives_health_data_even_with_consent": Case(
        (grant(EVERY_CATEGORY, Role.PREFECTURE, consent=C1),),
        PERMIT,
        Role.PREFECTURE,
        Shared(frozenset({IDENTITY, IMMIGRATION}), by_consent(C1)),
    ),
    "test_child_protection_receives_only_the_required_categories_of_a_minors_referral": Case(
        (),
        REFERRAL,
        Role.CHILD_PROTECTION,
        Shared(frozenset({IDENTITY, MINOR}), "exception:child-protection-minor"),
        situation=MINOR_BY_ASSOCIATION,
    ),
    "test_child_protection_never_receives_a_minors_health_data_without_consent": Case(
        (grant(frozenset({CONTACT}), Role.CHILD_PROTECTION),),
        REFERRAL,
        Role.CHILD_PROTECTION,
        Shared(
            frozenset({IDENTITY, MINOR, CONTACT}),
            "exception:child-protection-minor;" + by_consent(C1),
        ),
        situation=MINOR_BY_ASSOCIATION,
    ),
    "test_child_protection_needs_consent_for_an_adults_referral": Case(
        (), REFERRAL, Role.CHILD_PROTECTION, Held(frozenset({IDENTITY, MINOR}))
    ),
    "test_juvenile_prosecutor_receives_a_minors_report_without_consent": Case(
        (),
        REPORT,
        Role.JUVENILE_PROSECUTOR,
        Shared(frozenset({IDENTITY, MINOR, EXPLOITATION}), "exception:child-protection-minor"),
        situation=MINOR_BY_ASSOCIATION,
    ),
    "test_child_protection_takes_in_a_minor_without_consent": Case(
        (),
        ACCOMMODATION,
        Role.CHILD_PROTECTION,
        Shared(frozenset({IDENTITY, MINOR}), "exception:child-protection-minor"),
        situation=MINOR_BY_ASSOCIATION,
    ),
    "test_police_receive_a_public_officials_report_without_consent_required_only": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), "exception:public-official-duty"),
        situation=ADULT_BY_LABOUR_INSPECTOR,
    ),
    "test_labour_inspectorate_receives_a_police_report_without_consent_required_only": Case(
        (),
        REPORT,
        Role.LABOUR_INSPECTORATE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), "exception:public-official-duty"),
        situation=ADULT_BY_POLICE,
    ),
    "test_an_associations_report_on_an_adult_needs_consent": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Held(frozenset({IDENTITY, EXPLOITATION})),
        situation=ADULT_BY_ASSOCIATION,
    ),
    "test_an_associations_report_on_an_adult_in_immediate_danger_reaches_the_police": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), "exception:vital-interest-immediate-danger"),
        situation=ADULT_IN_DANGER_BY_ASSOCIATION,
    ),
    "test_immediate_danger_is_no_exception_for_the_labour_inspectorate": Case(
        (),
        REPORT,
        Role.LABOUR_INSPECTORATE,
        Held(frozenset({IDENTITY, EXPLOITATION})),
        situation=ADULT_IN_DANGER_BY_ASSOCIATION,
    ),
    "test_an_associations_report_on_a_minor_reaches_the_police_without_consent": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), "exception:minor-report-to-authorities"),
        situation=MINOR_BY_ASSOCIATION,
    ),
    # Professional secrecy (Code pénal 226-14): an adult's agreement, whatever else holds.
    "test_a_doctors_report_on_an_adult_needs_the_adults_consent": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Held(frozenset({IDENTITY, EXPLOITATION})),
        situation=ADULT_BY_DOCTOR,
    ),
    "test_a_doctors_report_on_an_adult_in_immediate_danger_reaches_the_police": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), "exception:vital-interest-immediate-danger"),
        situation=ADULT_IN_DANGER_BY_DOCTOR,
    ),
    "test_a_doctors_report_on_an_adult_goes_with_the_adults_consent": Case(
        (grant(frozenset({IDENTITY, EXPLOITATION}), Role.POLICE_GENDARMERIE),),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(frozenset({IDENTITY, EXPLOITATION}), by_consent(C1)),
        situation=ADULT_BY_DOCTOR,
    ),
    "test_a_doctors_report_on_a_minor_needs_no_consent": Case(
        (),
        REPORT,
        Role.JUVENILE_PROSECUTOR,
        Shared(frozenset({IDENTITY, MINOR, EXPLOITATION}), "exception:child-protection-minor"),
        situation=MINOR_BY_DOCTOR,
    ),
    "test_a_secrecy_bound_official_reporting_an_adult_needs_consent": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Held(frozenset({IDENTITY, EXPLOITATION})),
        situation=Situation(reporter_role=Role.SOCIAL_SERVICES, reporter_secrecy=True),
    ),
    "test_accommodation_of_a_minor_by_an_adult_provider_still_needs_consent": Case(
        (),
        ACCOMMODATION,
        Role.ACCOMMODATION_PROVIDER,
        Held(frozenset({IDENTITY})),
        situation=MINOR_BY_ASSOCIATION,
    ),
    "test_support_association_has_no_exception_for_a_minors_referral": Case(
        (),
        REFERRAL,
        Role.SUPPORT_ASSOCIATION,
        Held(frozenset({IDENTITY})),
        situation=MINOR_BY_ASSOCIATION,
    ),
    # A pair the policy does not list receives no personal data at all.
    "test_a_role_the_policy_does_not_list_receives_no_personal_data": Case(
        (grant(EVERY_CATEGORY, Role.PREFECTURE),),
        REFERRAL,
        Role.PREFECTURE,
        Shared(frozenset(), NO_DATA),
    ),
    "test_acknowledgements_carry_no_personal_data": Case(
        (grant(EVERY_CATEGORY, Role.POLICE_GENDARMERIE),),
        "fr.nrm.Acknowledgement",
        Role.POLICE_GENDARMERIE,
        Shared(frozenset(), NO_DATA),
    ),
    "test_identification_decisions_carry_no_personal_data": Case(
        (),
        "fr.nrm.IdentificationDecision",
        Role.SUPPORT_ASSOCIATION,
        Shared(frozenset(), NO_DATA),
    ),
}


@pytest.mark.parametrize("case", list(SHARING.values()), ids=list(SHARING))
def test_decide_sharing(case: Case) -> None:
    decision = decide_sharing(
        POLICY,
        state_after(case.story),
        message_type=case.message_type,
        role=case.role,
        situation=case.situation,
        now=case.now,
    )
    found: Shared | Held
    if isinstance(decision, Share):
        found = Shared(decision.allowed, decision.basis)
    else:
        assert isinstance(decision, ConsentGap)
        assert decision.role is case.role
        found = Held(decision.missing)
    assert found == case.expected


MESSAGE_TYPES = sorted(
    {rule.message_type for rule in RoutingRules.load(CONFIG).rules}
    | {need.message_type for need in POLICY.needs}
)
EVERYTHING_CONSENTED = state_after((grant(EVERY_CATEGORY, *AgencyRole),))


def shared_with(role: AgencyRole, message_type: str, minor: bool) -> frozenset[DataCategory]:
    decision = decide_sharing(
        POLICY,
        EVERYTHING_CONSENTED,
        message_type=message_type,
        role=role,
        situation=Situation(minor=minor, reporter_role=Role.POLICE_GENDARMERIE),
        now=NOW,
    )
    assert isinstance(decision, Share), f"{message_type} → {role} held with full consent"
    return decision.allowed


NEVER_SHARED = {
    "test_prefecture_never_receives_health_data": (Role.PREFECTURE, HEALTH),
    "test_prefecture_never_receives_the_exploitation_narrative": (Role.PREFECTURE, EXPLOITATION),
    "test_juvenile_prosecutor_never_receives_health_data": (Role.JUVENILE_PROSECUTOR, HEALTH),
    "test_police_never_receive_health_data": (Role.POLICE_GENDARMERIE, HEALTH),
    "test_accommodation_provider_never_receives_the_immigration_status": (
        Role.ACCOMMODATION_PROVIDER,
        IMMIGRATION,
    ),
    "test_accommodation_provider_never_receives_the_exploitation_narrative": (
        Role.ACCOMMODATION_PROVIDER,
        EXPLOITATION,
    ),
}


@pytest.mark.parametrize("minor", [False, True], ids=["adult", "minor"])
@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
@pytest.mark.parametrize(("role", "category"), list(NEVER_SHARED.values()), ids=list(NEVER_SHARED))
def test_role_never_receives_category(
    role: AgencyRole, category: DataCategory, message_type: str, minor: bool
) -> None:
    """Whatever the message, the person's age and however wide the consent."""
    assert category not in shared_with(role, message_type, minor)


def test_every_legal_exception_is_named_with_its_condition_and_source() -> None:
    found: dict[str, Any] = {e.name: (e.condition.value, e.source) for e in POLICY.exceptions}
    assert {name: condition for name, (condition, _) in found.items()} == {
        "child-protection-minor": "MINOR",
        "minor-report-to-authorities": "MINOR",
        "public-official-duty": "LEGAL_DUTY_OF_REPORTER",
        "vital-interest-immediate-danger": "VITAL_INTEREST_IMMEDIATE_DANGER",
        "report-from-the-public": "REPORT_FROM_THE_PUBLIC",
    }
    assert all(len(source) > 20 for _, source in found.values())


def test_no_exception_shares_an_optional_category_without_consent() -> None:
    """Whatever the situation, an exception alone gives each role its required categories."""
    situations = [
        Situation(minor=minor, immediate_danger=danger, reporter_role=role)
        for minor in (False, True)
        for danger in (False, True)
        for role in AgencyRole
    ]
    for need in POLICY.needs:
        for situation in situations:
            decision = decide_sharing(
                POLICY,
                ConsentState(),
                message_type=need.message_type,
                role=need.recipient_role,
                situation=situation,
                now=NOW,
            )
            if isinstance(decision, Share):
                assert decision.allowed == need.required, (need, situation)


def test_an_association_is_not_bound_by_the_public_officials_duty() -> None:
    duty = next(e for e in POLICY.exceptions if e.name == "public-official-duty")
    assert Role.SUPPORT_ASSOCIATION not in duty.reporter_roles
    assert Role.HEALTH not in duty.reporter_roles


def test_a_held_message_is_escalated_after_three_days() -> None:
    assert POLICY.hold_timeout_hours == 72
