"""The event catalogue: Avro contracts in schemas/avro, their pydantic mirrors in
hub.contracts.events.

Specifications checked here:
- every model round-trips through Avro binary unchanged (property test);
- the models mirror the schemas field for field, type for type, default for default;
- the catalogue's conventions hold (envelope first, UNKNOWN enum defaults, optional and
  correctly categorised personal data, docs everywhere, one named type per file);
- docs/EVENTS.md documents every field of every record.
"""

import copy
import io
import json
import types
import typing
import uuid
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache
from typing import Any

import fastavro
import pytest
from fastavro.schema import load_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from hub.contracts import enums as event_types
from hub.contracts.enums import AckStatus, DataCategory, Urgency, avro_full_name
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    EVENT_MODELS,
    SHARED_MODELS,
    Acknowledgement,
    Person,
    ReferralOpened,
    subject_of,
)
from hub.runtime.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
AVRO_DIR = ROOT / "schemas" / "avro"
EVENTS_DOC = ROOT / "docs" / "EVENTS.md"
CATEGORIES = {
    "identity",
    "contact",
    "health",
    "immigration_status",
    "exploitation_details",
    "minor",
}
WITHOUT_ENVELOPE = {"fr.nrm.DeadLetter", "fr.nrm.AuditEntry", "fr.nrm.DirectoryEntry"}
EXPECTED_SUBJECTS = {
    "fr.nrm.WitnessReport",
    "fr.nrm.WitnessReportAddendum",
    "fr.nrm.OrphanedNeed",
    "fr.nrm.RefusalNotice",
    "fr.nrm.DirectoryEntry",
    "fr.nrm.PresumedVictimReport",
    "fr.nrm.IdentificationDecision",
    "fr.nrm.ReferralOpened",
    "fr.nrm.AccommodationRequested",
    "fr.nrm.SupportRequested",
    "fr.nrm.PermitRequested",
    "fr.nrm.Acknowledgement",
    "fr.nrm.ConsentGiven",
    "fr.nrm.ConsentWithdrawn",
    "fr.nrm.SafetyFlagsSet",
    "fr.nrm.Escalation",
    "fr.nrm.CaseClosed",
    "fr.nrm.DeadLetter",
    "fr.nrm.AuditEntry",
    "fr.nrm.ProsecutorNotice",
    "fr.nrm.ParentsInformation",
    "fr.nrm.AdHocAdministratorRequested",
    "fr.nrm.ErasureRequested",
    "fr.nrm.ErasureApproved",
    "fr.nrm.ErasureRejected",
    "fr.nrm.ErasureNotice",
    "fr.nrm.RetentionExpiry",
    "fr.nrm.RestrictionLifted",
    "fr.nrm.RightsInformationGiven",
    "fr.nrm.PathwayChoiceRecorded",
}
ALL_RECORD_MODELS: dict[str, type[BaseModel]] = {
    **EVENT_MODELS,
    **{avro_full_name(m): m for m in SHARED_MODELS},
}


# --------------------------------------------------------------------------- schema access


@cache
def raw_types() -> dict[str, dict[str, Any]]:
    """Every authored named type, as written in its .avsc file, by full name."""
    found = {}
    for path in sorted(AVRO_DIR.glob("*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        found[f"{schema['namespace']}.{schema['name']}"] = schema
    return found


@cache
def parsed_schema(subject: str) -> Any:
    return fastavro.parse_schema(load_schema(str(AVRO_DIR / f"{subject}.avsc"), _write_hint=False))


def branches(avro_type: Any) -> list[Any]:
    return avro_type if isinstance(avro_type, list) else [avro_type]


def named_refs(avro_type: Any) -> list[str]:
    """Full names referenced by a field type (through unions and arrays)."""
    refs = []
    for branch in branches(avro_type):
        if isinstance(branch, str) and branch.startswith("fr.nrm."):
            refs.append(branch)
        elif isinstance(branch, dict) and branch.get("type") == "array":
            refs.extend(named_refs(branch["items"]))
    return refs


def all_fields() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, field)
        for name, schema in raw_types().items()
        if schema["type"] == "record"
        for field in schema["fields"]
    ]


# --------------------------------------------------------------------------- type shapes


def avro_shape(avro_type: Any) -> str:
    """A comparable description of an Avro type: 'null|array<fr.nrm.Gender>', 'uuid', ..."""
    if isinstance(avro_type, list):
        return "|".join(avro_shape(branch) for branch in avro_type)
    if isinstance(avro_type, str):
        return avro_type
    if avro_type["type"] == "array":
        return f"array<{avro_shape(avro_type['items'])}>"
    return str(avro_type.get("logicalType", avro_type["type"]))


def _constraint(metadata: list[Any], name: str) -> Any:
    for item in metadata:
        for candidate in [item, *getattr(item, "metadata", [])]:
            value = getattr(candidate, name, None)
            if value is not None:
                return value
    return None


def _unpack(annotation: Any) -> tuple[Any, list[Any]]:
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    return annotation, metadata


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


PRIMITIVE_SHAPES = {
    str: "string",
    bool: "boolean",
    bytes: "bytes",
    uuid.UUID: "uuid",
    datetime: "timestamp-millis",
    date: "date",
}


def python_shape(annotation: Any) -> str:
    """The avro_shape a pydantic annotation stands for."""
    annotation, metadata = _unpack(annotation)
    if _is_union(annotation):
        args = typing.get_args(annotation)
        others = [a for a in args if a is not type(None)]
        return "|".join(["null"] * (len(args) - len(others)) + [python_shape(a) for a in others])
    if typing.get_origin(annotation) is tuple:
        return f"array<{python_shape(typing.get_args(annotation)[0])}>"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel | Enum):
        return avro_full_name(annotation)
    if annotation is int:
        return "int" if _constraint(metadata, "le") == 2**31 - 1 else "long"
    return PRIMITIVE_SHAPES[annotation]


def hints(model: type[BaseModel]) -> dict[str, Any]:
    every = typing.get_type_hints(model, include_extras=True)
    return {name: every[name] for name in model.model_fields}


# --------------------------------------------------------------------------- strategies


def utc_millis() -> st.SearchStrategy[datetime]:
    return st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    )


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    annotation, metadata = _unpack(annotation)
    if _is_union(annotation):
        return st.one_of(*(strategy_for(arg) for arg in typing.get_args(annotation)))
    if typing.get_origin(annotation) is tuple:
        item = strategy_for(typing.get_args(annotation)[0])
        return st.lists(item, max_size=3).map(tuple)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(annotation)
    if annotation is int:
        return st.integers(_constraint(metadata, "ge"), _constraint(metadata, "le"))
    if annotation is str:
        pattern = _constraint(metadata, "pattern")
        return st.from_regex(pattern, fullmatch=True) if pattern else st.text(max_size=12)
    leaves: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        bytes: st.binary(max_size=16),
        uuid.UUID: st.uuids(),
        datetime: utc_millis(),
        date: st.dates(),
    }
    return leaves[annotation]


@cache
def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Instances of ``model`` with every field drawn, optional ones included."""
    return st.builds(model, **{name: strategy_for(hint) for name, hint in hints(model).items()})


def avro_round_trip(subject: str, record: dict[str, Any]) -> Any:
    schema = parsed_schema(subject)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, schema, schema)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("subject", sorted(EVENT_MODELS))
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_event_round_trips_through_avro_unchanged(subject: str, data: st.DataObject) -> None:
    model = EVENT_MODELS[subject]
    event = data.draw(model_strategy(model))
    decoded = avro_round_trip(subject, event.model_dump())
    assert model.model_validate(decoded) == event


def minimal_referral() -> ReferralOpened:
    return ReferralOpened(
        envelope=Envelope(
            event_id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            occurred_at=datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
        ),
        identifying_role="LABOUR_INSPECTORATE",
        departement="93",
        urgency=Urgency.URGENT,
        exploitation_types=["LABOUR"],
        person=Person(person_ref="P-7F3A"),
    )


def test_minimal_referral_round_trips_with_defaults_filled() -> None:
    referral = minimal_referral()
    decoded = avro_round_trip("fr.nrm.ReferralOpened", referral.model_dump())
    assert decoded["envelope"]["sender"] is None
    assert decoded["envelope"]["schema_version"] == 1
    assert decoded["person"]["first_name"] is None
    assert ReferralOpened.model_validate(decoded) == referral


def test_senders_leave_sender_fields_null() -> None:
    envelope = minimal_referral().envelope
    assert envelope.sender is None
    assert envelope.sender_role is None
    for name in ("sender", "sender_role"):
        (field,) = [f for f in raw_types()["fr.nrm.Envelope"]["fields"] if f["name"] == name]
        assert "SET BY THE HUB" in field["doc"]


def test_instants_become_utc_milliseconds() -> None:
    paris = datetime.fromisoformat("2025-03-14T10:30:00.123456+01:00")
    envelope = Envelope(event_id=uuid.uuid4(), case_id=uuid.uuid4(), occurred_at=paris)
    assert envelope.occurred_at == datetime(2025, 3, 14, 9, 30, 0, 123000, tzinfo=UTC)
    assert envelope.occurred_at.tzinfo is UTC
    naive = Envelope(
        event_id=uuid.uuid4(), case_id=uuid.uuid4(), occurred_at=datetime(2025, 3, 14, 9, 30)
    )
    assert naive.occurred_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("code", ["01", "2A", "2B", "57", "93", "95", "971", "976"])
def test_departement_codes_are_accepted(code: str) -> None:
    assert (
        ReferralOpened.model_validate(
            {**minimal_referral().model_dump(), "departement": code}
        ).departement
        == code
    )


@pytest.mark.parametrize("code", ["", "0", "00", "20", "2a", "96", "99", "979", "Paris", "930"])
def test_departement_codes_are_validated(code: str) -> None:
    with pytest.raises(ValidationError):
        ReferralOpened.model_validate({**minimal_referral().model_dump(), "departement": code})


def test_unknown_fields_are_refused_and_events_are_immutable() -> None:
    with pytest.raises(ValidationError):
        ReferralOpened.model_validate({**minimal_referral().model_dump(), "sender": "x"})
    with pytest.raises(ValidationError):
        minimal_referral().departement = "57"  # type: ignore[misc]


def test_reader_with_older_schema_decodes_new_enum_symbol_as_unknown() -> None:
    reader = load_schema(str(AVRO_DIR / "fr.nrm.Acknowledgement.avsc"), _write_hint=False)
    writer = copy.deepcopy(reader)
    (status,) = [f for f in writer["fields"] if f["name"] == "status"]
    status["type"]["symbols"].append("FORWARDED")
    ack = Acknowledgement(
        envelope=minimal_referral().envelope, request_id=uuid.uuid4(), status=AckStatus.ACCEPTED
    )
    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer, fastavro.parse_schema(writer), {**ack.model_dump(), "status": "FORWARDED"}
    )
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(
        buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )
    assert Acknowledgement.model_validate(decoded).status is AckStatus.UNKNOWN


def test_subjects_are_the_record_full_names() -> None:
    assert set(EVENT_MODELS) == EXPECTED_SUBJECTS
    for subject, model in EVENT_MODELS.items():
        assert subject_of(model) == subject
        assert (AVRO_DIR / f"{subject}.avsc").is_file()
    with pytest.raises(KeyError):
        subject_of(Person)


# --------------------------------------------------------------------------- conventions


def test_each_file_holds_one_named_type_named_after_it() -> None:
    for path in AVRO_DIR.glob("*.avsc"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(schema, dict)
        assert schema["namespace"] == "fr.nrm"
        assert path.name == f"fr.nrm.{schema['name']}.avsc"
        assert schema["type"] in {"record", "enum", "fixed"}


def test_named_types_are_referenced_by_full_name_never_inlined() -> None:
    for _, field in all_fields():
        for branch in branches(field["type"]):
            items = branch.get("items") if isinstance(branch, dict) else None
            for candidate in (branch, items):
                if isinstance(candidate, dict):
                    assert candidate["type"] not in {"record", "enum", "fixed"}, field["name"]


def test_every_event_but_dead_letters_and_audit_starts_with_the_envelope() -> None:
    for subject in EVENT_MODELS:
        first = raw_types()[subject]["fields"][0]
        if subject in WITHOUT_ENVELOPE:
            assert all(f["name"] != "envelope" for f in raw_types()[subject]["fields"])
        else:
            assert (first["name"], first["type"]) == ("envelope", "fr.nrm.Envelope")


def test_every_record_and_field_is_documented() -> None:
    for name, schema in raw_types().items():
        assert schema.get("doc", "").strip(), name
    for record, field in all_fields():
        assert field.get("doc", "").strip(), f"{record}.{field['name']}"


def test_personal_data_is_categorised_optional_and_null_by_default() -> None:
    categorised = 0
    for record, field in all_fields():
        if "category" not in field:
            continue
        categorised += 1
        where = f"{record}.{field['name']}"
        assert field["category"] in CATEGORIES, where
        assert isinstance(field["type"], list), where
        assert field["type"][0] == "null", where
        assert "default" in field, where
        assert field["default"] is None, where
    assert categorised > 0
    assert {DataCategory.from_tag(tag) for tag in CATEGORIES} == set(DataCategory) - {
        DataCategory.UNKNOWN
    }


@pytest.mark.parametrize(
    ("record", "field", "category"),
    [
        ("fr.nrm.Person", "first_name", "identity"),
        ("fr.nrm.Person", "date_of_birth", "identity"),
        ("fr.nrm.Person", "nationalities", "immigration_status"),
        ("fr.nrm.Person", "phone", "contact"),
        ("fr.nrm.Person", "health_needs", "health"),
        ("fr.nrm.Person", "is_minor", "minor"),
        ("fr.nrm.Person", "residence_departement", None),
        ("fr.nrm.Person", "person_ref", None),
        ("fr.nrm.ExploitationDetails", "narrative", "exploitation_details"),
        ("fr.nrm.AccommodationNeeds", "urgency", None),
        ("fr.nrm.AccommodationNeeds", "wheelchair_access", "health"),
        ("fr.nrm.PresumedVictimReport", "departement", None),
        ("fr.nrm.PresumedVictimReport", "minor_suspected", None),
    ],
)
def test_routing_metadata_is_untagged_and_personal_data_tagged(
    record: str, field: str, category: str | None
) -> None:
    (found,) = [f for f in raw_types()[record]["fields"] if f["name"] == field]
    assert found.get("category") == category


def test_every_enum_defaults_to_unknown_listed_first() -> None:
    enums = {name: s for name, s in raw_types().items() if s["type"] == "enum"}
    assert enums
    for name, schema in enums.items():
        assert schema["symbols"][0] == "UNKNOWN", name
        assert schema.get("default") == "UNKNOWN", name
        python_enum = getattr(event_types, schema["name"])
        assert [member.value for member in python_enum] == schema["symbols"], name


def test_models_mirror_the_schemas_field_for_field() -> None:
    reachable = set()
    pending = sorted(EVENT_MODELS)
    while pending:
        name = pending.pop()
        if name not in reachable:
            reachable.add(name)
            for field in raw_types()[name].get("fields", []):
                pending.extend(named_refs(field["type"]))
    records = {name for name in reachable if raw_types()[name]["type"] == "record"}
    assert records == set(ALL_RECORD_MODELS)
    assert reachable == set(raw_types()), "every authored type is used by some event"
    for name in records:
        model = ALL_RECORD_MODELS[name]
        fields = raw_types()[name]["fields"]
        assert list(model.model_fields) == [f["name"] for f in fields], name
        model_hints = hints(model)
        for field in fields:
            where = f"{name}.{field['name']}"
            info = model.model_fields[field["name"]]
            assert python_shape(model_hints[field["name"]]) == avro_shape(field["type"]), where
            if "default" not in field:
                assert info.is_required(), where
            else:
                default = info.get_default()
                assert (
                    json.loads(json.dumps(list(default) if isinstance(default, tuple) else default))
                    == field["default"]
                ), where


def test_events_doc_describes_every_field() -> None:
    text = EVENTS_DOC.read_text(encoding="utf-8")
    sections = {chunk.split("\n", 1)[0].strip(" `"): chunk for chunk in text.split("\n### ")[1:]}
    for name, schema in raw_types().items():
        assert name in sections, f"docs/EVENTS.md has no '### {name}' section"
        for field in schema.get("fields", []):
            assert f"| `{field['name']}` |" in sections[name], f"{name}.{field['name']}"
        for symbol in schema.get("symbols", []):
            assert f"`{symbol}`" in sections[name], f"{name}.{symbol}"


def test_an_old_decision_with_the_removed_person_declined_reason_reads_as_unknown() -> None:
    # IdentificationDecision v1 (id 9) still had PERSON_DECLINED; v2 removed it (issue 20:
    # no reason may read as "did not cooperate"). A record written then must still decode.
    from hub.contracts.codec import Codec
    from hub.contracts.events import IdentificationDecision
    from hub.contracts.registry import SchemaRegistry

    registry = SchemaRegistry.load(PROJECT_ROOT / "schemas")
    v1 = json.loads((PROJECT_ROOT / "schemas" / "registered" / "9.avsc").read_text())
    decision = {
        "envelope": minimal_referral().envelope.model_dump(),
        "report_event_id": uuid.uuid4(),
        "outcome": "NOT_IDENTIFIED",
        "not_identified_reason": "PERSON_DECLINED",
        "transferred_to_role": None,
        "indicator_codes": [],
        "detail": None,
    }
    buffer = io.BytesIO(b"\x00" + (9).to_bytes(4, "big"))
    buffer.seek(5)
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(v1), decision)
    decoded = Codec(registry).decode_event(buffer.getvalue())
    assert isinstance(decoded, IdentificationDecision)
    assert decoded.not_identified_reason is not None
    assert decoded.not_identified_reason.value == "UNKNOWN"
