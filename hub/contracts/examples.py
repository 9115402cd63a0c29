"""One realistic, valid event of each type, with the agency that would publish it.

Used by the demo, the codec benchmark and tests, so that every one of them exercises the same
catalogue. The person is fictional; the case is a labour-exploitation referral in
Seine-Saint-Denis (93).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    CaseClosedReason,
    ConsentMethod,
    DataCategory,
    DeadLetterReason,
    DeclineReason,
    EscalationStep,
    ExploitationType,
    Gender,
    IdentificationOutcome,
    ImmigrationStatus,
    PermitType,
    RightsTopic,
    SafeChannel,
    SupportType,
    Urgency,
)
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    AccommodationNeeds,
    AccommodationRequested,
    Acknowledgement,
    CaseClosed,
    ConsentGiven,
    ConsentWithdrawn,
    Escalation,
    ExploitationDetails,
    IdentificationDecision,
    PathwayChoiceRecorded,
    PermitRequested,
    Person,
    PresumedVictimReport,
    ReferralOpened,
    RightsInformationGiven,
    SafetyFlagsSet,
    SupportRequested,
)
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
)

CASE_ID = uuid.UUID("6f1c2a9e-93d0-4c8e-9a57-1d2b3c4d5e6f")
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HUB = "hub"
INDICATORS = ("ILO-FL-02", "ILO-FL-07", "ILO-FL-08", "ILO-FL-11")
"""Codes of the shared indicator grid (``deploy/config/indicators.yaml``): deception, identity
documents retained, wages withheld, excessive overtime."""


def _envelope(minutes: int, event_id: int, case_id: uuid.UUID) -> Envelope:
    return Envelope(
        event_id=uuid.uuid5(case_id, str(event_id)),
        case_id=case_id,
        occurred_at=T0 + timedelta(minutes=minutes),
        correlation_id=case_id,
    )


def example_person() -> Person:
    """A fictional adult presumed victim of labour exploitation."""
    return Person(
        person_ref="P-93-2026-0042",
        first_name="Amina",
        last_name="Diallo",
        date_of_birth=date(1994, 3, 12),
        gender=Gender.FEMALE,
        languages=("fr", "ff", "en"),
        nationalities=("SN",),
        immigration_status=ImmigrationStatus.IRREGULAR,
        documents_held=("passport confiscated by employer",),
        phone="+33 6 00 00 00 00",
        address="hébergement d'urgence, Saint-Denis",
        health_needs="suivi psychologique; douleurs dorsales",
        is_minor=False,
        residence_departement="93",
    )


def example_exploitation() -> ExploitationDetails:
    """Labour exploitation in a restaurant kitchen, with shared indicator codes."""
    return ExploitationDetails(
        types=(ExploitationType.LABOUR,),
        indicator_codes=INDICATORS,
        narrative="70 h par semaine sans salaire, passeport retenu par l'employeur.",
        places=("Aubervilliers (93)",),
        sector="restauration",
        period_start=date(2025, 6, 1),
        ongoing=False,
    )


def example_events(case_id: uuid.UUID = CASE_ID) -> list[tuple[str, BaseModel]]:
    """(sender, event) for one event of every type, in story order.

    The sender is an agency id, or ``HUB`` for what the hub itself emits (escalations, dead
    letters, audit entries), which goes to the hub's own topics.
    Another ``case_id`` gives the same story with its own event and request ids.
    """
    person = example_person()

    def request_id(n: int) -> uuid.UUID:
        return uuid.uuid5(case_id, f"request-{n}")

    request = request_id(1)
    return [
        (
            "police-93",
            ReferralOpened(
                envelope=_envelope(0, 1, case_id),
                identifying_role=AgencyRole.POLICE_GENDARMERIE,
                departement="93",
                urgency=Urgency.URGENT,
                exploitation_types=(ExploitationType.LABOUR,),
                indicator_codes=INDICATORS,
                person=person,
                exploitation=example_exploitation(),
            ),
        ),
        (
            "association-93",
            PresumedVictimReport(
                envelope=_envelope(-60, 2, case_id),
                reporter_role=AgencyRole.SUPPORT_ASSOCIATION,
                departement="93",
                urgency=Urgency.URGENT,
                exploitation_types=(ExploitationType.LABOUR,),
                indicator_codes=INDICATORS,
                languages=("fr", "ff"),
                person=person,
                exploitation=example_exploitation(),
            ),
        ),
        (
            "inspection-travail-93",
            IdentificationDecision(
                envelope=_envelope(5, 3, case_id),
                report_event_id=uuid.uuid5(case_id, "2"),
                outcome=IdentificationOutcome.IDENTIFIED,
                indicator_codes=INDICATORS,
            ),
        ),
        (
            "association-93",
            ConsentGiven(
                envelope=_envelope(10, 4, case_id),
                consent_id=uuid.UUID("c0000000-0000-4000-8000-000000000001"),
                categories=(DataCategory.IDENTITY, DataCategory.CONTACT),
                recipient_roles=(
                    AgencyRole.SUPPORT_ASSOCIATION,
                    AgencyRole.ACCOMMODATION_PROVIDER,
                ),
                purpose="accompagnement et hébergement sécurisé",
                expires_at=T0 + timedelta(days=365),
                recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
                method=ConsentMethod.ORAL_WITH_INTERPRETER,
            ),
        ),
        (
            "police-93",
            AccommodationRequested(
                envelope=_envelope(12, 5, case_id),
                request_id=request,
                needs=AccommodationNeeds(
                    urgency=Urgency.URGENT,
                    preferred_departement="93",
                    remote_placement=True,
                    gender=Gender.FEMALE,
                ),
                person=person,
            ),
        ),
        (
            "police-93",
            SupportRequested(
                envelope=_envelope(13, 6, case_id),
                request_id=request_id(2),
                support_types=(SupportType.SOCIAL, SupportType.LEGAL, SupportType.PSYCHOLOGICAL),
                departement="93",
                person=person,
            ),
        ),
        (
            "association-93",
            RightsInformationGiven(
                envelope=_envelope(20, 13, case_id),
                topics=(
                    RightsTopic.REFLECTION_PERIOD,
                    RightsTopic.ACCOMMODATION,
                    RightsTopic.SUPPORT,
                    RightsTopic.RESIDENCE_PERMIT_L425_1,
                    RightsTopic.ASYLUM,
                ),
                language="ff",
                interpreter=True,
                given_by_role=AgencyRole.POLICE_GENDARMERIE,
                given_by_name="Brigadière L. Martin",
            ),
        ),
        (
            "association-93",
            PathwayChoiceRecorded(
                envelope=_envelope(25, 14, case_id),
                information_event_id=uuid.uuid5(case_id, "13"),
                reflection_period=True,
                accommodation_wanted=True,
                support_wanted=True,
                person=person,
            ),
        ),
        # The police ask for the document the person's recorded choice (above) asks for:
        # no agency's permit request passes without one (CESEDA R425-2, « qui choisit »).
        (
            "police-93",
            PermitRequested(
                envelope=_envelope(30, 7, case_id),
                request_id=request_id(3),
                permit_type=PermitType.REFLECTION_PERIOD_RECEIPT,
                departement="93",
                person=person,
            ),
        ),
        (
            "hebergement-93",
            Acknowledgement(
                envelope=_envelope(40, 8, case_id),
                request_id=request,
                status=AckStatus.DECLINED,
                decline_reason=DeclineReason.NO_CAPACITY,
                detail="aucune place disponible avant le 15 décembre",
            ),
        ),
        (
            "association-93",
            SafetyFlagsSet(
                envelope=_envelope(15, 9, case_id),
                do_not_contact=False,
                safe_channel=SafeChannel.VIA_SUPPORT_ASSOCIATION,
                note="ne pas appeler le numéro connu de l'employeur",
            ),
        ),
        (
            HUB,
            Escalation(
                envelope=_envelope(60 * 24 * 3, 10, case_id),
                deadline_id=uuid.UUID("d0000000-0000-4000-8000-000000000001"),
                request_id=request_id(3),
                step=EscalationStep.REMINDER,
                late_by_seconds=3600,
                target_agency="prefecture-93",
                target_role=AgencyRole.PREFECTURE,
            ),
        ),
        (
            "association-93",
            ConsentWithdrawn(
                envelope=_envelope(60 * 24 * 30, 11, case_id),
                consent_id=uuid.UUID("c0000000-0000-4000-8000-000000000001"),
                recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
            ),
        ),
        (
            "association-93",
            CaseClosed(
                envelope=_envelope(60 * 24 * 90, 12, case_id),
                reason=CaseClosedReason.PATHWAY_COMPLETED,
                detail="titre de séjour délivré, hébergement stable",
            ),
        ),
        (
            HUB,
            DeadLetter(
                dead_letter_id=uuid.UUID("dead0000-0000-4000-8000-000000000001"),
                occurred_at=T0,
                reason=DeadLetterReason.SPOOFED_SENDER,
                detail="envelope.sender names police-93 but the record came from association-93",
                original=b"\x00\x00\x00\x00\x01",
                source_topic="nrm.outbox.association-93",
                source_partition=2,
                source_offset=17,
                case_id=case_id,
                claimed_sender="police-93",
            ),
        ),
        (
            HUB,
            AuditEntry(
                case_id=case_id,
                seq=1,
                recorded_at=T0,
                actor="police-93",
                actor_role=AgencyRole.POLICE_GENDARMERIE,
                event_id=uuid.uuid5(case_id, "1"),
                action=AuditAction.RECEIVED,
                categories=(DataCategory.IDENTITY,),
                prev_hash=bytes(32),
                hash=bytes(range(32)),
            ),
        ),
    ]


def permit_consent(case_id: uuid.UUID, at: datetime) -> ConsentGiven:
    """The person's consent to their permit application (identity and immigration status for
    the prefecture): since issue 20 no legal exception sends a permit request without it."""
    return ConsentGiven(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at),
        consent_id=uuid.uuid4(),
        categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
        recipient_roles=(AgencyRole.PREFECTURE,),
        purpose="demande de récépissé de délai de réflexion (CESEDA R425-2)",
        recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
        method=ConsentMethod.ORAL_WITH_INTERPRETER,
    )


def permit_choice(
    case_id: uuid.UUID, at: datetime, residence_departement: str = "93"
) -> tuple[RightsInformationGiven, PathwayChoiceRecorded]:
    """The example person informed of her rights, then choosing the reflection period: the
    recorded choice without which no permit request reaches the prefecture (CESEDA R425-2,
    « qui choisit »). It makes the hub raise the récépissé request itself, to the prefecture of
    ``residence_departement`` when the case has no report."""
    information = RightsInformationGiven(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at),
        topics=(RightsTopic.REFLECTION_PERIOD, RightsTopic.ACCOMMODATION, RightsTopic.SUPPORT),
        language="ff",
        interpreter=True,
        given_by_role=AgencyRole.POLICE_GENDARMERIE,
    )
    person = example_person().model_copy(update={"residence_departement": residence_departement})
    choice = PathwayChoiceRecorded(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=at),
        information_event_id=information.envelope.event_id,
        reflection_period=True,
        person=person,
    )
    return information, choice
