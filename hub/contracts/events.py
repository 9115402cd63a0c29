"""The events of ``schemas/avro`` as pydantic models: one frozen model per Avro record.

The ``.avsc`` files are the single source of truth; these models mirror them field for field
(same names, same types, same defaults), which ``tests/unit/contracts/test_event_models.py`` checks.
``model_dump()`` gives exactly what fastavro writes, and ``model_validate`` accepts exactly
what it reads back, so ``validate(read(write(dump(event)))) == event``.

Fields whose Avro definition carries a ``category`` attribute hold personal data; they are all
optional so that a minimised projection can null them. Which categories a recipient may see
is decided elsewhere (consent and routing rules), never here.
"""

from datetime import date
from uuid import UUID

from pydantic import BaseModel

from hub.contracts.avro_record import AvroRecord
from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    CaseClosedReason,
    ConsentMethod,
    Count,
    DataCategory,
    DeadLetterReason,
    DeclineReason,
    Departement,
    EscalationStep,
    ExploitationType,
    Gender,
    IdentificationOutcome,
    ImmigrationStatus,
    Int32,
    Int64,
    NeedKind,
    NotIdentifiedReason,
    OrphanReason,
    PermitType,
    RightsTopic,
    SafeChannel,
    Seq,
    SupportType,
    Urgency,
    UtcMillis,
    avro_full_name,
)

# The registry below names every top-level record, wherever it is defined.
from hub.contracts.envelope import Envelope, Event
from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureNotice,
    ErasureRejected,
    ErasureRequested,
    RestrictionLifted,
    RetentionExpiry,
)
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
    DirectoryEntry,
    RecordHeader,
    SigningKeyEntry,
)
from hub.contracts.witness import WitnessReport, WitnessReportAddendum

# ------------------------------------------------------------------------- shared records


class Person(AvroRecord):
    """The presumed victim: a pseudonym, routing data, and optional tagged personal data."""

    person_ref: str
    first_name: str | None = None
    last_name: str | None = None
    aliases: Seq[str] | None = None
    date_of_birth: date | None = None
    gender: Gender | None = None
    languages: Seq[str] | None = None
    nationalities: Seq[str] | None = None
    immigration_status: ImmigrationStatus | None = None
    documents_held: Seq[str] | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    safe_contact_note: str | None = None
    health_needs: str | None = None
    disability: str | None = None
    pregnant: bool | None = None
    is_minor: bool | None = None
    guardian: str | None = None
    residence_departement: Departement | None = None


class ExploitationDetails(AvroRecord):
    """What happened to the person; every field is exploitation_details data."""

    types: Seq[ExploitationType] | None = None
    indicator_codes: Seq[str] | None = None
    narrative: str | None = None
    exploiters: Seq[str] | None = None
    places: Seq[str] | None = None
    sector: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    ongoing: bool | None = None


class AccommodationNeeds(AvroRecord):
    """What a placement must offer: routing fields, then tagged needs of the person."""

    urgency: Urgency
    preferred_departement: Departement | None = None
    remote_placement: bool = False
    gender: Gender | None = None
    accompanying_adults: Count | None = None
    accompanying_minors: Count | None = None
    accompanying_minor_ages: Seq[Count] | None = None
    wheelchair_access: bool | None = None
    disability_needs: str | None = None


# ------------------------------------------------------------------------- events


class PresumedVictimReport(Event):
    """A first responder reports a presumed victim; answered by an IdentificationDecision."""

    reporter_role: AgencyRole
    departement: Departement
    urgency: Urgency
    immediate_danger: bool = False
    minor_suspected: bool = False
    exploitation_types: Seq[ExploitationType] = ()
    indicator_codes: Seq[str] = ()
    languages: Seq[str] = ()
    claims_formal_identification: bool = False
    accommodation_needs: AccommodationNeeds | None = None
    support_needed: Seq[SupportType] = ()
    person: Person
    exploitation: ExploitationDetails | None = None


class ProsecutorNotice(Event):
    """Avis au procureur (CPP art. 40): raised by the hub when public officials receive a report."""

    report_event_id: UUID
    notifying_agencies: Seq[str] = ()
    departement: Departement
    minor_suspected: bool = False
    exploitation_types: Seq[ExploitationType] = ()
    legal_basis: str = "CPP art. 40"
    person: Person
    exploitation: ExploitationDetails | None = None


class ParentsInformation(Event):
    """Were a minor's parents informed of the transmission to child protection (CASF L226-2-1)?"""

    parents_informed: bool
    no_legal_representative: bool = False
    contrary_interest_reason: str | None = None


class AdHocAdministratorRequested(Event):
    """To the juvenile prosecutor: appoint an ad hoc administrator (CPP 706-50) or a guardian."""

    request_id: UUID
    departement: Departement
    unaccompanied: bool = False
    legal_basis: str = "CPP art. 706-50; Directive 2011/36/UE art. 14(2)"


class IdentificationDecision(Event):
    """An identifying authority's answer to a PresumedVictimReport."""

    report_event_id: UUID
    outcome: IdentificationOutcome
    not_identified_reason: NotIdentifiedReason | None = None
    transferred_to_role: AgencyRole | None = None
    indicator_codes: Seq[str] = ()
    detail: str | None = None


class ReferralOpened(Event):
    """Formal identification by police/gendarmerie or the labour inspectorate."""

    identifying_role: AgencyRole
    departement: Departement
    urgency: Urgency
    minor_suspected: bool = False
    exploitation_types: Seq[ExploitationType] = ()
    indicator_codes: Seq[str] = ()
    person: Person
    exploitation: ExploitationDetails | None = None


class AccommodationRequested(Event):
    """Request for a safe place to stay, sent to accommodation providers."""

    request_id: UUID
    needs: AccommodationNeeds
    person: Person


class SupportRequested(Event):
    """Request for support (social, legal, medical, ...), sent to associations and services."""

    request_id: UUID
    support_types: Seq[SupportType]
    departement: Departement | None = None
    person: Person


class PermitRequested(Event):
    """Request to a prefecture for a victim's residence document (CESEDA L425-1 ff.)."""

    request_id: UUID
    permit_type: PermitType
    departement: Departement
    legal_basis: str = "CESEDA L425-1"
    person: Person


class RightsInformationGiven(Event):
    """The person was informed of their rights (which, in which language, by whom)."""

    topics: Seq[RightsTopic]
    language: str
    interpreter: bool = False
    given_by_role: AgencyRole
    given_by_name: str | None = None


class PathwayChoiceRecorded(Event):
    """The person's own choice after being informed: reflection period, permit, assistance."""

    information_event_id: UUID
    reflection_period: bool
    permit_type: PermitType | None = None
    accommodation_wanted: bool = False
    support_wanted: bool = False
    accommodation_needs: AccommodationNeeds | None = None
    support_needed: Seq[SupportType] = ()
    person: Person | None = None


class Acknowledgement(Event):
    """A recipient's answer to a request: accepted, declined, needs information, completed."""

    request_id: UUID
    status: AckStatus
    decline_reason: DeclineReason | None = None
    detail: str | None = None


class ConsentGiven(Event):
    """Consent to share some categories with some recipient roles, for a purpose."""

    consent_id: UUID
    categories: Seq[DataCategory]
    recipient_roles: Seq[AgencyRole]
    purpose: str
    expires_at: UtcMillis | None = None
    recorded_by_role: AgencyRole
    recorded_by_name: str | None = None
    method: ConsentMethod


class ConsentWithdrawn(Event):
    """Withdrawal of consent; a ``None`` scope field means all."""

    consent_id: UUID | None = None
    categories: Seq[DataCategory] | None = None
    recipient_roles: Seq[AgencyRole] | None = None
    recorded_by_role: AgencyRole


class SafetyFlagsSet(Event):
    """Safety instructions for every agency in contact with the person."""

    do_not_contact: bool = False
    safe_channel: SafeChannel
    note: str | None = None


class Escalation(Event):
    """An overdue request climbing the escalation ladder (emitted by the hub)."""

    deadline_id: UUID
    request_id: UUID | None = None
    step: EscalationStep
    late_by_seconds: Int64
    target_agency: str | None = None
    target_role: AgencyRole


class CaseClosed(Event):
    """The end of a case's pathway."""

    reason: CaseClosedReason
    detail: str | None = None


class OrphanedNeed(Event):
    """A case need nobody is acting on, raised to national coordination (emitted by the hub)."""

    need: NeedKind
    reason: OrphanReason
    request_id: UUID
    message_type: str
    departement: str
    declined_by: Seq[str] = ()
    deadline_id: UUID | None = None
    resolved: bool = False


class RefusalNotice(Event):
    """Tells an agency the hub refused a record of its outbox; no personal data (emitted by
    the hub)."""

    dead_letter_id: UUID
    refused_event_id: UUID | None = None
    reason: DeadLetterReason
    detail: str
    source_topic: str
    source_partition: Int32
    source_offset: Int64
    authenticated: bool
    unnotified_before: Int64 = 0


_TOP_LEVEL: tuple[type[AvroRecord], ...] = (
    PresumedVictimReport,
    IdentificationDecision,
    ReferralOpened,
    AccommodationRequested,
    SupportRequested,
    PermitRequested,
    Acknowledgement,
    ConsentGiven,
    ConsentWithdrawn,
    SafetyFlagsSet,
    Escalation,
    CaseClosed,
    DeadLetter,
    AuditEntry,
    DirectoryEntry,
    OrphanedNeed,
    ProsecutorNotice,
    ParentsInformation,
    AdHocAdministratorRequested,
    RefusalNotice,
    ErasureRequested,
    ErasureApproved,
    ErasureRejected,
    ErasureNotice,
    RetentionExpiry,
    RestrictionLifted,
    RightsInformationGiven,
    PathwayChoiceRecorded,
    WitnessReport,
    WitnessReportAddendum,
)

EVENT_MODELS: dict[str, type[BaseModel]] = {avro_full_name(m): m for m in _TOP_LEVEL}
"""Every top-level subject (the record's Avro full name) and the model that mirrors it."""

SHARED_MODELS: tuple[type[AvroRecord], ...] = (
    Envelope,
    Person,
    ExploitationDetails,
    AccommodationNeeds,
    SigningKeyEntry,
    RecordHeader,
)
"""Records that only appear nested inside events."""


def subject_of(model_type: type[BaseModel]) -> str:
    """The subject (Avro full name, e.g. ``fr.nrm.ReferralOpened``) of a top-level event model.

    Raises ``KeyError`` for a model that is not a top-level event (e.g. ``Person``).
    """
    subject = avro_full_name(model_type)
    if EVENT_MODELS.get(subject) is not model_type:
        raise KeyError(f"{model_type.__name__} is not a top-level event model")
    return subject
