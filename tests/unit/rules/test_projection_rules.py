"""Minimised projections, field by field, as docs/ROUTING.md and ARCHITECTURE principle 4 promise.

A recipient receives the same registered record with every personal field outside the
categories it may see set to null, and everything else untouched. The personal fields and
their categories are written out below from ``schemas/avro`` (the ``category`` attributes), so
a schema tag that changes, or a projection that drops or leaks a field, fails a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, ConsentMethod, DataCategory
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    ConsentGiven,
    ConsentWithdrawn,
)
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.rules.consent import ConsentPolicy, ConsentState, Share, Situation, decide_sharing
from hub.rules.projection import Projector
from hub.runtime.settings import PROJECT_ROOT, get_settings

REGISTRY = SchemaRegistry.load(get_settings().schemas_dir)
CODEC = Codec(REGISTRY)
PROJECTOR = Projector(REGISTRY)
POLICY = ConsentPolicy.load(PROJECT_ROOT / "deploy" / "config")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)

Role = AgencyRole
IDENTITY, CONTACT, HEALTH = DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.HEALTH
IMMIGRATION = DataCategory.IMMIGRATION_STATUS
EXPLOITATION = DataCategory.EXPLOITATION_DETAILS
MINOR = DataCategory.MINOR
EVERY_CATEGORY = frozenset(c for c in DataCategory if c is not DataCategory.UNKNOWN)

PERSON = {
    "first_name": IDENTITY,
    "last_name": IDENTITY,
    "aliases": IDENTITY,
    "date_of_birth": IDENTITY,
    "gender": IDENTITY,
    "languages": IDENTITY,
    "nationalities": IMMIGRATION,
    "immigration_status": IMMIGRATION,
    "documents_held": IMMIGRATION,
    "phone": CONTACT,
    "email": CONTACT,
    "address": CONTACT,
    "safe_contact_note": CONTACT,
    "health_needs": HEALTH,
    "disability": HEALTH,
    "pregnant": HEALTH,
    "is_minor": MINOR,
    "guardian": MINOR,
}
NEEDS = {
    "gender": IDENTITY,
    "accompanying_adults": IDENTITY,
    "accompanying_minors": MINOR,
    "accompanying_minor_ages": MINOR,
    "wheelchair_access": HEALTH,
    "disability_needs": HEALTH,
}
EXPLOITATION_FIELDS = (
    "types",
    "indicator_codes",
    "narrative",
    "exploiters",
    "places",
    "sector",
    "period_start",
    "period_end",
    "ongoing",
)
NESTED: Mapping[str, DataCategory] = {
    **{f"person.{name}": c for name, c in PERSON.items()},
    **{f"needs.{name}": c for name, c in NEEDS.items()},
    **{f"accommodation_needs.{name}": c for name, c in NEEDS.items()},
    **{f"exploitation.{name}": EXPLOITATION for name in EXPLOITATION_FIELDS},
}
TOP_LEVEL: Mapping[str, Mapping[str, DataCategory]] = {
    "fr.nrm.SafetyFlagsSet": {"note": CONTACT},  # how to reach the person safely
    "fr.nrm.IdentificationDecision": {"detail": EXPLOITATION},
    "fr.nrm.ConsentGiven": {"recorded_by_name": IDENTITY},
}


def personal(subject: str) -> Mapping[str, DataCategory]:
    """Every personal field of ``subject``, by dotted path, with its category."""
    return {**NESTED, **TOP_LEVEL.get(subject, {})}


def _example_records() -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for _sender, event in example_events():
        decoded = CODEC.decode(CODEC.encode_event(event))
        records[decoded.subject] = dict(decoded.record)
    return records


RECORDS = _example_records()


def leaves(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every field; personal fields are leaves whatever they hold."""
    for name, value in record.items():
        path = prefix + name
        if isinstance(value, Mapping) and path not in NESTED:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def visible(subject: str, record: Mapping[str, Any]) -> set[str]:
    """The personal fields of ``record`` that hold a value."""
    fields = personal(subject)
    return {path for path, value in leaves(record) if path in fields and value is not None}


SUBJECTS_WITH_PERSONAL_DATA = sorted(s for s, r in RECORDS.items() if visible(s, r))
ALLOWED_SETS = {
    "nothing": frozenset(),
    "identity": frozenset({IDENTITY}),
    "identity_and_immigration": frozenset({IDENTITY, IMMIGRATION}),
    "health_only": frozenset({HEALTH}),
    "contact_and_minor": frozenset({CONTACT, MINOR}),
    "exploitation_details": frozenset({EXPLOITATION}),
    "everything": EVERY_CATEGORY,
}


def test_the_example_story_carries_personal_data_of_every_category() -> None:
    """Guards the tables below: a row must be able to leak something to fail."""
    found = {personal(s)[path] for s, record in RECORDS.items() for path in visible(s, record)}
    assert found == EVERY_CATEGORY


@pytest.mark.parametrize("allowed", list(ALLOWED_SETS.values()), ids=list(ALLOWED_SETS))
@pytest.mark.parametrize("subject", SUBJECTS_WITH_PERSONAL_DATA)
def test_projection_nulls_every_field_outside_the_allowed_categories_and_nothing_else(
    subject: str, allowed: frozenset[DataCategory]
) -> None:
    original = RECORDS[subject]
    projected = dict(leaves(PROJECTOR.project(subject, original, allowed)))
    for path, value in leaves(original):
        category = personal(subject).get(path)
        expected = None if category is not None and category not in allowed else value
        assert projected[path] == expected, f"{path} ({category or 'not personal'})"


@pytest.mark.parametrize("allowed", list(ALLOWED_SETS.values()), ids=list(ALLOWED_SETS))
@pytest.mark.parametrize("subject", SUBJECTS_WITH_PERSONAL_DATA)
def test_projected_record_is_still_a_valid_record_of_its_schema(
    subject: str, allowed: frozenset[DataCategory]
) -> None:
    """The recipient decodes it with stock Avro tools: same subject, same schema."""
    projected = PROJECTOR.project(subject, RECORDS[subject], allowed)
    decoded = CODEC.decode(CODEC.encode_with(REGISTRY.latest(subject), projected))
    assert decoded.subject == subject
    assert visible(subject, decoded.record) == visible(subject, projected)


@pytest.mark.parametrize("subject", SUBJECTS_WITH_PERSONAL_DATA)
def test_projection_leaves_the_original_record_untouched(subject: str) -> None:
    before = dict(leaves(RECORDS[subject]))
    PROJECTOR.project(subject, RECORDS[subject], frozenset())
    assert dict(leaves(RECORDS[subject])) == before


def everything_consented_to(*roles: AgencyRole) -> ConsentState:
    return ConsentState().given(
        ConsentGiven(
            envelope=Envelope(event_id=uuid.uuid4(), case_id=uuid.uuid4(), occurred_at=NOW),
            consent_id=uuid.uuid4(),
            categories=tuple(sorted(EVERY_CATEGORY)),
            recipient_roles=roles,
            purpose="accompagnement",
            expires_at=NOW + timedelta(days=365),
            recorded_by_role=Role.SUPPORT_ASSOCIATION,
            method=ConsentMethod.ORAL_WITH_INTERPRETER,
        )
    )


def identity_only_for(role: AgencyRole) -> ConsentState:
    """Consent to everything for ``role``, then every category but identity withdrawn."""
    state, _ = everything_consented_to(role).withdrawn(
        ConsentWithdrawn(
            envelope=Envelope(event_id=uuid.uuid4(), case_id=uuid.uuid4(), occurred_at=NOW),
            categories=tuple(sorted(EVERY_CATEGORY - {IDENTITY})),
            recorded_by_role=Role.SUPPORT_ASSOCIATION,
        )
    )
    return state


def seen_by(subject: str, role: AgencyRole, *, minor: bool, state: ConsentState) -> set[str]:
    """The personal fields ``role`` receives of the example ``subject`` record."""
    situation = Situation(minor=minor, reporter_role=Role.POLICE_GENDARMERIE)
    decision = decide_sharing(
        POLICY, state, message_type=subject, role=role, situation=situation, now=NOW
    )
    assert isinstance(decision, Share)
    return visible(subject, PROJECTOR.project(subject, RECORDS[subject], decision.allowed))


def fields(*categories: DataCategory, of: str = "person") -> set[str]:
    """The personal field paths of ``categories`` in the nested record ``of``."""
    table = NEEDS if of in ("needs", "accommodation_needs") else PERSON
    if of == "exploitation":
        names = [n for n in EXPLOITATION_FIELDS if EXPLOITATION in categories]
    else:
        names = [n for n, c in table.items() if c in categories]
    return {f"{of}.{name}" for name in names}


REPORT = "fr.nrm.PresumedVictimReport"
REFERRAL = "fr.nrm.ReferralOpened"
ACCOMMODATION = "fr.nrm.AccommodationRequested"
SUPPORT = "fr.nrm.SupportRequested"
PERMIT = "fr.nrm.PermitRequested"
FULL = everything_consented_to(*AgencyRole)

WHAT_EACH_ROLE_SEES = {
    "test_prefecture_sees_only_identity_and_immigration_fields_of_a_permit_request": (
        PERMIT,
        Role.PREFECTURE,
        False,
        FULL,
        fields(IDENTITY, IMMIGRATION),
    ),
    # No exception any more (issue 20): the person's consent to everything still shows the
    # prefecture identity and immigration status only.
    "test_support_association_sees_all_it_needs_to_accompany_the_person": (
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        False,
        FULL,
        fields(IDENTITY, IMMIGRATION, CONTACT, HEALTH, MINOR),
    ),
    "test_support_association_sees_only_what_consent_covers": (
        SUPPORT,
        Role.SUPPORT_ASSOCIATION,
        False,
        identity_only_for(Role.SUPPORT_ASSOCIATION),
        fields(IDENTITY),
    ),
    "test_shelter_never_sees_the_immigration_status": (
        ACCOMMODATION,
        Role.ACCOMMODATION_PROVIDER,
        False,
        FULL,
        fields(IDENTITY, CONTACT, HEALTH, MINOR) | fields(IDENTITY, of="needs"),
    ),
    "test_police_see_the_exploitation_but_never_health_data_of_a_report": (
        REPORT,
        Role.POLICE_GENDARMERIE,
        False,
        FULL,
        fields(IDENTITY, IMMIGRATION, CONTACT, MINOR) | fields(EXPLOITATION, of="exploitation"),
    ),
    "test_juvenile_prosecutor_sees_identity_minority_and_exploitation_of_a_minors_report": (
        REPORT,
        Role.JUVENILE_PROSECUTOR,
        True,
        ConsentState(),
        fields(IDENTITY, MINOR) | fields(EXPLOITATION, of="exploitation"),
    ),
    "test_child_protection_never_sees_the_immigration_status_of_a_minors_referral": (
        REFERRAL,
        Role.CHILD_PROTECTION,
        True,
        FULL,
        fields(IDENTITY, CONTACT, HEALTH, MINOR) | fields(EXPLOITATION, of="exploitation"),
    ),
    "test_a_role_without_a_need_sees_no_personal_field": (
        REFERRAL,
        Role.PREFECTURE,
        False,
        FULL,
        set(),
    ),
}


@pytest.mark.parametrize(
    ("subject", "role", "minor", "state", "expected"),
    list(WHAT_EACH_ROLE_SEES.values()),
    ids=list(WHAT_EACH_ROLE_SEES),
)
def test_what_each_role_sees(
    subject: str, role: AgencyRole, minor: bool, state: ConsentState, expected: set[str]
) -> None:
    present = visible(subject, RECORDS[subject])
    assert seen_by(subject, role, minor=minor, state=state) == expected & present


@pytest.mark.parametrize("subject", SUBJECTS_WITH_PERSONAL_DATA)
def test_prefecture_never_receives_a_health_field_value(subject: str) -> None:
    for minor in (False, True):
        seen = seen_by(subject, Role.PREFECTURE, minor=minor, state=FULL)
        assert not {path for path in seen if personal(subject)[path] is HEALTH}
