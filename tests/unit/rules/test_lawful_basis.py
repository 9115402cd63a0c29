"""Each disclosure records the lawful bases it rests on (issue 20 item 8, docs/LAW.md §7).

Read from the texts: consent is GDPR 6(1)(a) (explicit for health data, 9(2)(a)); a duty of
the reporter is 6(1)(c); immediate danger is 6(1)(d); child protection is a legal obligation
and a public task; the exploitation narrative is offence data (art. 10); a police or
prosecutor recipient processes under the Law Enforcement Directive. Each row goes through
the committed policy and ``decide_sharing``, as the router does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hub.contracts.enums import AgencyRole, ConsentMethod, DataCategory, LawfulBasis
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    ConsentGiven,
)
from hub.rules.consent import ConsentPolicy, ConsentState, Share, Situation, decide_sharing
from hub.rules.lawful_basis import lawful_bases
from hub.runtime.settings import PROJECT_ROOT

POLICY = ConsentPolicy.load(PROJECT_ROOT / "deploy" / "config")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
Role, Basis = AgencyRole, LawfulBasis
IDENTITY, CONTACT, HEALTH = DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.HEALTH
EXPLOITATION, MINOR = DataCategory.EXPLOITATION_DETAILS, DataCategory.MINOR
REPORT = "fr.nrm.PresumedVictimReport"
SUPPORT = "fr.nrm.SupportRequested"
ACCOMMODATION = "fr.nrm.AccommodationRequested"


def consented(*categories: DataCategory, to: AgencyRole) -> ConsentState:
    return ConsentState().given(
        ConsentGiven(
            envelope=Envelope(event_id=uuid.uuid4(), case_id=uuid.uuid4(), occurred_at=NOW),
            consent_id=uuid.uuid4(),
            categories=categories,
            recipient_roles=(to,),
            purpose="accompagnement",
            expires_at=NOW + timedelta(days=30),
            recorded_by_role=Role.SUPPORT_ASSOCIATION,
            method=ConsentMethod.WRITTEN,
        )
    )


@dataclass(frozen=True)
class Row:
    message_type: str
    role: AgencyRole
    situation: Situation
    consent: ConsentState
    expected: tuple[LawfulBasis, ...]


BY_ASSOCIATION = Situation(reporter_role=Role.SUPPORT_ASSOCIATION)
ROWS = {
    "test_consented_support_rests_on_consent_and_explicit_consent_for_health": Row(
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        BY_ASSOCIATION,
        consented(IDENTITY, HEALTH, to=Role.SUPPORT_ASSOCIATION),
        (Basis.GDPR_6_1_A_CONSENT, Basis.GDPR_9_2_A_EXPLICIT_CONSENT),
    ),
    "test_a_consented_report_to_the_police_is_offence_data_under_the_led": Row(
        REPORT,
        Role.POLICE_GENDARMERIE,
        BY_ASSOCIATION,
        consented(IDENTITY, EXPLOITATION, to=Role.POLICE_GENDARMERIE),
        (Basis.GDPR_6_1_A_CONSENT, Basis.GDPR_10_OFFENCE_DATA, Basis.LED_2016_680),
    ),
    "test_a_public_officials_report_rests_on_a_legal_obligation": Row(
        REPORT,
        Role.LABOUR_INSPECTORATE,
        Situation(reporter_role=Role.POLICE_GENDARMERIE),
        ConsentState(),
        (Basis.GDPR_6_1_C_LEGAL_OBLIGATION, Basis.GDPR_10_OFFENCE_DATA),
    ),
    "test_immediate_danger_rests_on_the_vital_interest": Row(
        REPORT,
        Role.POLICE_GENDARMERIE,
        Situation(immediate_danger=True, reporter_role=Role.SUPPORT_ASSOCIATION),
        ConsentState(),
        (Basis.GDPR_6_1_D_VITAL_INTEREST, Basis.GDPR_10_OFFENCE_DATA, Basis.LED_2016_680),
    ),
    "test_child_protection_rests_on_a_legal_obligation_and_a_public_task": Row(
        ACCOMMODATION,
        Role.CHILD_PROTECTION,
        Situation(minor=True, reporter_role=Role.SUPPORT_ASSOCIATION),
        ConsentState(),
        (Basis.GDPR_6_1_C_LEGAL_OBLIGATION, Basis.GDPR_6_1_E_PUBLIC_TASK),
    ),
    "test_an_exception_with_consented_extras_names_both": Row(
        ACCOMMODATION,
        Role.CHILD_PROTECTION,
        Situation(minor=True, reporter_role=Role.SUPPORT_ASSOCIATION),
        consented(CONTACT, to=Role.CHILD_PROTECTION),
        (
            Basis.GDPR_6_1_A_CONSENT,
            Basis.GDPR_6_1_C_LEGAL_OBLIGATION,
            Basis.GDPR_6_1_E_PUBLIC_TASK,
        ),
    ),
    "test_the_juvenile_prosecutor_processes_under_the_led": Row(
        REPORT,
        Role.JUVENILE_PROSECUTOR,
        Situation(minor=True, reporter_role=Role.HEALTH, reporter_secrecy=True),
        ConsentState(),
        (
            Basis.GDPR_6_1_C_LEGAL_OBLIGATION,
            Basis.GDPR_6_1_E_PUBLIC_TASK,
            Basis.GDPR_10_OFFENCE_DATA,
            Basis.LED_2016_680,
        ),
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_lawful_bases_of_a_disclosure(row: Row) -> None:
    share = decide_sharing(
        POLICY,
        row.consent,
        message_type=row.message_type,
        role=row.role,
        situation=row.situation,
        now=NOW,
    )
    assert isinstance(share, Share)
    assert lawful_bases(share, row.role, share.allowed, POLICY) == row.expected


def test_nothing_disclosed_rests_on_nothing() -> None:
    share = Share(allowed=frozenset(), basis="no personal data")
    assert lawful_bases(share, Role.POLICE_GENDARMERIE, frozenset(), POLICY) == ()


def test_every_exception_names_a_gdpr_basis() -> None:
    for exception in POLICY.exceptions:
        assert exception.lawful_basis, exception.name
        assert Basis.GDPR_6_1_A_CONSENT not in exception.lawful_basis, exception.name
