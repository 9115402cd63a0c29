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
from hub.contracts.events import ConsentGiven, ConsentWithdrawn, Envelope
from hub.rules.consent import ConsentGap, ConsentPolicy, ConsentState, Share, decide_sharing
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


@dataclass(frozen=True)
class Case:
    story: tuple[ConsentGiven | ConsentWithdrawn, ...]
    message_type: str
    role: AgencyRole
    expected: Shared | Held
    minor: bool = False
    now: datetime = NOW


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
    "test_prefecture_receives_a_permit_request_under_the_permit_exception": Case(
        (),
        PERMIT,
        Role.PREFECTURE,
        Shared(frozenset({IDENTITY, IMMIGRATION}), "exception:permit-application"),
    ),
    "test_prefecture_never_receives_health_data_even_with_consent": Case(
        (grant(EVERY_CATEGORY, Role.PREFECTURE),),
        PERMIT,
        Role.PREFECTURE,
        Shared(frozenset({IDENTITY, IMMIGRATION}), "exception:permit-application"),
    ),
    "test_child_protection_receives_a_minors_referral_without_consent": Case(
        (),
        REFERRAL,
        Role.CHILD_PROTECTION,
        Shared(
            frozenset({IDENTITY, MINOR, CONTACT, HEALTH, EXPLOITATION}),
            "exception:child-protection-minor",
        ),
        minor=True,
    ),
    "test_child_protection_needs_consent_for_an_adults_referral": Case(
        (), REFERRAL, Role.CHILD_PROTECTION, Held(frozenset({IDENTITY, MINOR}))
    ),
    "test_juvenile_prosecutor_receives_a_minors_report_without_consent": Case(
        (),
        REPORT,
        Role.JUVENILE_PROSECUTOR,
        Shared(frozenset({IDENTITY, MINOR, EXPLOITATION}), "exception:child-protection-minor"),
        minor=True,
    ),
    "test_police_receive_a_report_without_consent_to_identify_the_victim": Case(
        (),
        REPORT,
        Role.POLICE_GENDARMERIE,
        Shared(
            frozenset({IDENTITY, EXPLOITATION, CONTACT, IMMIGRATION, MINOR}),
            "exception:identification-by-competent-authority",
        ),
    ),
    "test_labour_inspectorate_receives_a_report_without_consent_to_identify_the_victim": Case(
        (),
        REPORT,
        Role.LABOUR_INSPECTORATE,
        Shared(
            frozenset({IDENTITY, EXPLOITATION, CONTACT, IMMIGRATION, MINOR}),
            "exception:identification-by-competent-authority",
        ),
    ),
    "test_accommodation_of_a_minor_still_needs_consent": Case(
        (), ACCOMMODATION, Role.ACCOMMODATION_PROVIDER, Held(frozenset({IDENTITY})), minor=True
    ),
    "test_support_association_has_no_exception_for_a_minors_referral": Case(
        (), REFERRAL, Role.SUPPORT_ASSOCIATION, Held(frozenset({IDENTITY})), minor=True
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
        minor=case.minor,
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
        minor=minor,
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


def test_every_legal_exception_is_named_with_its_source() -> None:
    found: dict[str, Any] = {e.name: e.source for e in POLICY.exceptions}
    assert set(found) == {
        "child-protection-minor",
        "identification-by-competent-authority",
        "permit-application",
    }
    assert all(len(source) > 20 for source in found.values())


def test_a_held_message_is_escalated_after_three_days() -> None:
    assert POLICY.hold_timeout_hours == 72
