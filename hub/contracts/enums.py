"""The Avro enums of ``schemas/avro`` as Python enums, and the scalar types events are built of.

Each ``StrEnum`` mirrors the Avro enum of the same name in namespace ``fr.nrm``, symbol for
symbol and in the same order. ``UNKNOWN`` comes first everywhere: it is the Avro enum default,
so a reader with an older schema decodes a symbol it does not know as ``UNKNOWN``.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, PlainSerializer, StringConstraints

NAMESPACE = "fr.nrm"

T = TypeVar("T")


def avro_full_name(python_type: type) -> str:
    """The Avro full name (``fr.nrm.Name``) of an event model or enum: its class name."""
    return f"{NAMESPACE}.{python_type.__name__}"


def _utc_millis(value: datetime) -> datetime:
    # Avro timestamp-millis keeps milliseconds and no zone: normalising here makes a decoded
    # event compare equal to the one that was encoded. Naive values are taken as UTC.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _as_list(value: tuple[Any, ...]) -> list[Any]:
    # fastavro reads a tuple in a union as (branch name, value): arrays are dumped as lists.
    return list(value)


UtcMillis = Annotated[datetime, AfterValidator(_utc_millis)]
"""An instant (Avro ``timestamp-millis``): UTC-aware, truncated to milliseconds."""

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""An Avro ``int``."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An Avro ``long``."""

Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""A non-negative Avro ``int`` (a number of people, an age in years)."""

Departement = Annotated[
    str, StringConstraints(pattern=r"^(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97[1-8])$")
]
"""A département code (Avro ``string``): ``01``–``95`` with ``2A``/``2B`` for Corsica, and
``971``–``978`` overseas."""

Seq = Annotated[tuple[T, ...], PlainSerializer(_as_list)]
"""An Avro array: an immutable tuple in Python, dumped as a list."""


class AgencyRole(StrEnum):
    """Role an agency plays in the NRM. Routing rules, consent scopes and projections are per
    role. HUB is the hub itself (escalations, dead letters, audit).
    """

    UNKNOWN = "UNKNOWN"
    POLICE_GENDARMERIE = "POLICE_GENDARMERIE"
    LABOUR_INSPECTORATE = "LABOUR_INSPECTORATE"
    PREFECTURE = "PREFECTURE"
    ACCOMMODATION_PROVIDER = "ACCOMMODATION_PROVIDER"
    SUPPORT_ASSOCIATION = "SUPPORT_ASSOCIATION"
    CHILD_PROTECTION = "CHILD_PROTECTION"
    JUVENILE_PROSECUTOR = "JUVENILE_PROSECUTOR"
    HEALTH = "HEALTH"
    EDUCATION = "EDUCATION"
    SOCIAL_SERVICES = "SOCIAL_SERVICES"
    UNION = "UNION"
    JUSTICE = "JUSTICE"
    NATIONAL_COORDINATION = "NATIONAL_COORDINATION"
    OBSERVATORY = "OBSERVATORY"
    HUB = "HUB"


class DataCategory(StrEnum):
    """Category of personal data, the unit of consent and of minimised projections. Each personal
    field of an event carries one of these in its 'category' attribute (lower case).
    """

    UNKNOWN = "UNKNOWN"
    IDENTITY = "IDENTITY"
    CONTACT = "CONTACT"
    HEALTH = "HEALTH"
    IMMIGRATION_STATUS = "IMMIGRATION_STATUS"
    EXPLOITATION_DETAILS = "EXPLOITATION_DETAILS"
    MINOR = "MINOR"

    @classmethod
    def from_tag(cls, tag: str) -> "DataCategory":
        """The category a schema field's ``category`` attribute names (``"health"``)."""
        return cls(tag.upper())

    @property
    def tag(self) -> str:
        """The value of the ``category`` attribute for this category (``"health"``)."""
        return self.value.lower()


class ExploitationType(StrEnum):
    """Form of exploitation (Code pénal art. 225-4-1: sexual exploitation and procuring, forced
    labour or services, slavery and servitude, forced begging, forced criminality, organ
    removal; forced marriage as recognised by the national plan).
    """

    UNKNOWN = "UNKNOWN"
    LABOUR = "LABOUR"
    SEXUAL = "SEXUAL"
    FORCED_CRIMINALITY = "FORCED_CRIMINALITY"
    FORCED_BEGGING = "FORCED_BEGGING"
    DOMESTIC_SERVITUDE = "DOMESTIC_SERVITUDE"
    FORCED_MARRIAGE = "FORCED_MARRIAGE"
    ORGAN_REMOVAL = "ORGAN_REMOVAL"
    OTHER = "OTHER"


class Urgency(StrEnum):
    """How fast the case must be handled. IMMEDIATE_DANGER means the person is at risk now
    (shortest deadlines, police informed).
    """

    UNKNOWN = "UNKNOWN"
    ROUTINE = "ROUTINE"
    URGENT = "URGENT"
    IMMEDIATE_DANGER = "IMMEDIATE_DANGER"


class Gender(StrEnum):
    """Gender as declared by the person (not civil status). NOT_DISCLOSED: the person chose not to
    say; UNKNOWN: not asked.
    """

    UNKNOWN = "UNKNOWN"
    FEMALE = "FEMALE"
    MALE = "MALE"
    NON_BINARY = "NON_BINARY"
    NOT_DISCLOSED = "NOT_DISCLOSED"


class ImmigrationStatus(StrEnum):
    """Residence situation of the person in France as known to the sender."""

    UNKNOWN = "UNKNOWN"
    FRENCH_NATIONAL = "FRENCH_NATIONAL"
    EU_EEA_SWISS_NATIONAL = "EU_EEA_SWISS_NATIONAL"
    REGULAR_RESIDENT = "REGULAR_RESIDENT"
    ASYLUM_SEEKER = "ASYLUM_SEEKER"
    INTERNATIONAL_PROTECTION = "INTERNATIONAL_PROTECTION"
    REFLECTION_PERIOD = "REFLECTION_PERIOD"
    VICTIM_RESIDENCE_PERMIT = "VICTIM_RESIDENCE_PERMIT"
    IRREGULAR = "IRREGULAR"
    OTHER = "OTHER"


class IdentificationOutcome(StrEnum):
    """Result of an identifying authority's assessment of a report. REASONABLE_GROUNDS: the first
    stage, reasonable grounds to believe the person is a victim (Dir. 2011/36 art. 11(2), Warsaw
    art. 10(2)): opens the rights pathway, a conclusive IDENTIFIED or NOT_IDENTIFIED follows.
    TRANSFERRED: another authority is competent (see transferred_to_role).
    """

    UNKNOWN = "UNKNOWN"
    IDENTIFIED = "IDENTIFIED"
    NOT_IDENTIFIED = "NOT_IDENTIFIED"
    TRANSFERRED = "TRANSFERRED"
    REASONABLE_GROUNDS = "REASONABLE_GROUNDS"


class NotIdentifiedReason(StrEnum):
    """Why a report did not lead to identification (coded, for statistics and follow-up). No
    reason reads as the person not cooperating: assistance never depends on it (Dir. 2011/36
    art. 11(3)); PERSON_DECLINED was removed, and an older record carrying it reads as UNKNOWN.
    """

    UNKNOWN = "UNKNOWN"
    INSUFFICIENT_INDICATORS = "INSUFFICIENT_INDICATORS"
    OTHER_OFFENCE = "OTHER_OFFENCE"
    PERSON_UNREACHABLE = "PERSON_UNREACHABLE"
    OTHER = "OTHER"


class AckStatus(StrEnum):
    """Answer of a recipient to a request. NEEDS_INFORMATION keeps the request open; COMPLETED
    closes it once the service was delivered.
    """

    UNKNOWN = "UNKNOWN"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    NEEDS_INFORMATION = "NEEDS_INFORMATION"
    COMPLETED = "COMPLETED"


class DeclineReason(StrEnum):
    """Why a recipient declined a request; a decline re-routes to the next eligible agency.
    CONFLICT: conflict of interest or safety conflict (e.g. exploiter known nearby);
    OUT_OF_AREA: not territorially competent.
    """

    UNKNOWN = "UNKNOWN"
    NO_CAPACITY = "NO_CAPACITY"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    CONFLICT = "CONFLICT"
    OUT_OF_AREA = "OUT_OF_AREA"
    OTHER = "OTHER"


class PermitType(StrEnum):
    """Residence document requested from the prefecture for a victim of trafficking or procuring:
    receipt covering the 30-day reflection period (CESEDA R425-1 ff.), temporary residence
    permit for a complainant or witness (CESEDA L425-1 ff.), resident card after final
    conviction of the accused (CESEDA L425-3).
    """

    UNKNOWN = "UNKNOWN"
    REFLECTION_PERIOD_RECEIPT = "REFLECTION_PERIOD_RECEIPT"
    RESIDENCE_PERMIT_COMPLAINANT = "RESIDENCE_PERMIT_COMPLAINANT"
    RESIDENCE_PERMIT_WITNESS = "RESIDENCE_PERMIT_WITNESS"
    RESIDENT_CARD_AFTER_CONVICTION = "RESIDENT_CARD_AFTER_CONVICTION"
    EXIT_PATHWAY_AUTHORISATION = "EXIT_PATHWAY_AUTHORISATION"


class SupportType(StrEnum):
    """Kind of support a person needs from an association or service."""

    UNKNOWN = "UNKNOWN"
    SOCIAL = "SOCIAL"
    LEGAL = "LEGAL"
    ADMINISTRATIVE = "ADMINISTRATIVE"
    MEDICAL = "MEDICAL"
    PSYCHOLOGICAL = "PSYCHOLOGICAL"
    INTERPRETING = "INTERPRETING"
    FINANCIAL = "FINANCIAL"
    LANGUAGE_COURSES = "LANGUAGE_COURSES"
    EMPLOYMENT_TRAINING = "EMPLOYMENT_TRAINING"
    VOLUNTARY_RETURN = "VOLUNTARY_RETURN"
    OTHER = "OTHER"


class SafeChannel(StrEnum):
    """The only channel through which the person may be contacted safely."""

    UNKNOWN = "UNKNOWN"
    PHONE = "PHONE"
    SMS = "SMS"
    EMAIL = "EMAIL"
    IN_PERSON = "IN_PERSON"
    VIA_SUPPORT_ASSOCIATION = "VIA_SUPPORT_ASSOCIATION"
    VIA_ACCOMMODATION_PROVIDER = "VIA_ACCOMMODATION_PROVIDER"
    VIA_LAWYER = "VIA_LAWYER"


class ConsentMethod(StrEnum):
    """How consent was collected. LEGAL_REPRESENTATIVE: given for a minor or protected adult by
    the legal representative or ad hoc administrator.
    """

    UNKNOWN = "UNKNOWN"
    WRITTEN = "WRITTEN"
    ORAL = "ORAL"
    ORAL_WITH_INTERPRETER = "ORAL_WITH_INTERPRETER"
    ELECTRONIC = "ELECTRONIC"
    LEGAL_REPRESENTATIVE = "LEGAL_REPRESENTATIVE"


class EscalationStep(StrEnum):
    """Rung of the escalation ladder reached by an overdue request."""

    UNKNOWN = "UNKNOWN"
    REMINDER = "REMINDER"
    SUPERVISOR = "SUPERVISOR"
    NATIONAL_COORDINATION = "NATIONAL_COORDINATION"


class ErasureOutcome(StrEnum):
    """What an erasure command came to: erased (art. 17), restricted (art. 18), or that
    restriction lifted (art. 18(3))."""

    UNKNOWN = "UNKNOWN"
    ERASED = "ERASED"
    RESTRICTED = "RESTRICTED"
    RESTRICTION_LIFTED = "RESTRICTION_LIFTED"


class CaseClosedReason(StrEnum):
    """Why a case was closed."""

    UNKNOWN = "UNKNOWN"
    PATHWAY_COMPLETED = "PATHWAY_COMPLETED"
    PERSON_UNREACHABLE = "PERSON_UNREACHABLE"
    LEFT_TERRITORY = "LEFT_TERRITORY"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    OTHER = "OTHER"


class DeadLetterReason(StrEnum):
    """Machine-readable reason a record was dead-lettered instead of routed; the same value
    appears in the log and the metric.
    """

    UNKNOWN = "UNKNOWN"
    CORRUPT_FRAME = "CORRUPT_FRAME"
    UNKNOWN_SCHEMA_ID = "UNKNOWN_SCHEMA_ID"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    SEMANTIC_VIOLATION = "SEMANTIC_VIOLATION"
    SPOOFED_SENDER = "SPOOFED_SENDER"
    OVERSIZE = "OVERSIZE"
    NO_ELIGIBLE_RECIPIENT = "NO_ELIGIBLE_RECIPIENT"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    STALE_SIGNATURE = "STALE_SIGNATURE"
    REPLAYED = "REPLAYED"
    NOT_AN_IDENTIFYING_AUTHORITY = "NOT_AN_IDENTIFYING_AUTHORITY"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    UNKNOWN_REQUEST = "UNKNOWN_REQUEST"
    WRONG_RESPONDER = "WRONG_RESPONDER"
    PROCESSING_ERROR = "PROCESSING_ERROR"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    UNKNOWN_INDICATOR = "UNKNOWN_INDICATOR"
    INDICATOR_FORM_MISMATCH = "INDICATOR_FORM_MISMATCH"
    NOT_IN_PERMIT_ROUTE = "NOT_IN_PERMIT_ROUTE"
    NOT_CHOSEN = "NOT_CHOSEN"


class RightsTopic(StrEnum):
    """A right the person was informed of (CESEDA R425-1; Dir. 2011/36 art. 11(6)): the routes of
    pathway.yaml and the assistance offered."""

    UNKNOWN = "UNKNOWN"
    REFLECTION_PERIOD = "REFLECTION_PERIOD"
    ACCOMMODATION = "ACCOMMODATION"
    SUPPORT = "SUPPORT"
    LEGAL_AID = "LEGAL_AID"
    RESIDENCE_PERMIT_L425_1 = "RESIDENCE_PERMIT_L425_1"
    RESIDENT_CARD_L425_3 = "RESIDENT_CARD_L425_3"
    EXIT_PATHWAY_L425_4 = "EXIT_PATHWAY_L425_4"
    HUMANITARIAN_ADMISSION = "HUMANITARIAN_ADMISSION"
    ASYLUM = "ASYLUM"


class Specialism(StrEnum):
    """What an agency is specialised in; routing prefers agencies whose specialism matches the
    case.
    """

    UNKNOWN = "UNKNOWN"
    MINORS = "MINORS"
    LABOUR_EXPLOITATION = "LABOUR_EXPLOITATION"
    SEXUAL_EXPLOITATION = "SEXUAL_EXPLOITATION"
    DOMESTIC_SERVITUDE = "DOMESTIC_SERVITUDE"
    FORCED_CRIMINALITY = "FORCED_CRIMINALITY"
    FORCED_BEGGING = "FORCED_BEGGING"
    FORCED_MARRIAGE = "FORCED_MARRIAGE"
    FAMILIES = "FAMILIES"
    DISABILITY_ACCESS = "DISABILITY_ACCESS"


class NeedKind(StrEnum):
    """The case need a deadline protects, named in orphaned needs. TRIAGE: a report from the
    public waiting for the designated triage body.
    """

    UNKNOWN = "UNKNOWN"
    IDENTIFICATION = "IDENTIFICATION"
    ACCOMMODATION = "ACCOMMODATION"
    SUPPORT = "SUPPORT"
    PERMIT = "PERMIT"
    TRIAGE = "TRIAGE"


class OrphanReason(StrEnum):
    """Why a case need has nobody acting on it."""

    UNKNOWN = "UNKNOWN"
    ALL_DECLINED = "ALL_DECLINED"
    NO_ELIGIBLE_AGENCY = "NO_ELIGIBLE_AGENCY"
    PAST_LAST_STEP = "PAST_LAST_STEP"


class LawfulBasis(StrEnum):
    """A lawful basis a disclosure rests on, recorded in its audit entry (docs/LAW.md §7)."""

    UNKNOWN = "UNKNOWN"
    GDPR_6_1_A_CONSENT = "GDPR_6_1_A_CONSENT"
    GDPR_9_2_A_EXPLICIT_CONSENT = "GDPR_9_2_A_EXPLICIT_CONSENT"
    GDPR_6_1_C_LEGAL_OBLIGATION = "GDPR_6_1_C_LEGAL_OBLIGATION"
    GDPR_6_1_D_VITAL_INTEREST = "GDPR_6_1_D_VITAL_INTEREST"
    GDPR_6_1_E_PUBLIC_TASK = "GDPR_6_1_E_PUBLIC_TASK"
    GDPR_9_2_G_SUBSTANTIAL_PUBLIC_INTEREST = "GDPR_9_2_G_SUBSTANTIAL_PUBLIC_INTEREST"
    GDPR_10_OFFENCE_DATA = "GDPR_10_OFFENCE_DATA"
    LED_2016_680 = "LED_2016_680"


class AuditAction(StrEnum):
    """What an audit entry records."""

    UNKNOWN = "UNKNOWN"
    RECEIVED = "RECEIVED"
    ROUTED = "ROUTED"
    HELD = "HELD"
    RELEASED = "RELEASED"
    CANCELLED = "CANCELLED"
    REFUSED = "REFUSED"
    DEAD_LETTERED = "DEAD_LETTERED"
    DELIVERED = "DELIVERED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ESCALATED = "ESCALATED"
    CONSENT_RECORDED = "CONSENT_RECORDED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    CASE_TRANSITION = "CASE_TRANSITION"
    ERASED = "ERASED"
