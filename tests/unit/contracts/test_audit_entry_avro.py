"""Audit entries' own Avro writer: byte for byte what fastavro writes, with the codec's errors
and size limit, and never used for a schema whose fields it does not write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from audit_entries import audit_entries
from fastavro import parse_schema
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hub.contracts.audit_entry_avro import AuditEntryWriter, UnexpectedSchemaError
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, DeadLetterReason, LawfulBasis
from hub.contracts.events import subject_of
from hub.contracts.hub_records import AuditEntry
from hub.contracts.registry import RegisteredSchema, SchemaRegistry
from hub.runtime.settings import PROJECT_ROOT

REGISTRY = SchemaRegistry.load(PROJECT_ROOT / "schemas")
CODEC = Codec(REGISTRY)
SUBJECT = subject_of(AuditEntry)


def fastavro_frame(entry: AuditEntry, codec: Codec = CODEC) -> bytes:
    """The frame the generic path (model_dump, then fastavro) writes for ``entry``."""
    return codec.encode(SUBJECT, entry.model_dump())


texts = st.text(max_size=300)  # any unicode but lone surrogates, empty included
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2400, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9, minutes=-30))]),
)
blobs = (
    st.binary(max_size=40)
    | st.binary(min_size=4090, max_size=20_000)
    # where a length's prefix grows a byte (64, 8192), and where the writer's table ends (4096)
    | st.sampled_from([63, 64, 4095, 4096, 4097, 8191, 8192]).map(bytes)
)


def entries() -> st.SearchStrategy[AuditEntry]:
    return audit_entries(
        texts=texts, instants=instants, ciphertexts=blobs, max_categories=70, max_hash=64
    )


@hypothesis_settings(max_examples=400, deadline=None)
@given(entries())
def test_an_entry_is_written_byte_for_byte_as_fastavro_writes_it(entry: AuditEntry) -> None:
    assert CODEC.encode_event(entry) == fastavro_frame(entry)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.data())
def test_entries_sharing_a_case_an_event_or_a_time_are_each_written_as_fastavro_writes_them(
    data: st.DataObject,
) -> None:
    """The writer keeps the last case, event and time it wrote: a run of entries drawn from a
    few of each, in any order, is still written entry by entry as fastavro writes it."""
    cases = data.draw(st.lists(st.uuids(), min_size=1, max_size=3))
    events = data.draw(st.lists(st.none() | st.uuids(), min_size=1, max_size=3))
    times = data.draw(st.lists(instants, min_size=1, max_size=3))
    codec = Codec(REGISTRY)
    for _ in range(data.draw(st.integers(min_value=2, max_value=12))):
        entry = data.draw(entries()).model_copy(
            update={
                "case_id": data.draw(st.sampled_from(cases)),
                "event_id": data.draw(st.sampled_from(events)),
                "recorded_at": data.draw(st.sampled_from(times)),
            }
        )
        assert codec.encode_event(entry) == fastavro_frame(entry)


@pytest.mark.parametrize("role", list(AgencyRole))
@pytest.mark.parametrize("action", list(AuditAction))
def test_every_role_and_action_symbol_is_written_as_fastavro_writes_it(
    role: AgencyRole, action: AuditAction
) -> None:
    entry = AuditEntry(
        case_id=UUID(int=7),
        seq=0,
        recorded_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        actor="police-93",
        actor_role=role,
        action=action,
        categories=tuple(DataCategory),
        lawful_bases=tuple(LawfulBasis),
        prev_hash=bytes(32),
        hash=bytes(range(32)),
    )
    assert CODEC.encode_event(entry) == fastavro_frame(entry)
    assert CODEC.decode_event(CODEC.encode_event(entry)) == entry


def story_entry(**fields: object) -> AuditEntry:
    values: dict[str, object] = {
        "case_id": UUID(int=7),
        "seq": 3,
        "recorded_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        "actor": "hub",
        "actor_role": AgencyRole.HUB,
        "action": AuditAction.RECEIVED,
        "prev_hash": bytes(32),
        "hash": bytes(32),
    }
    return AuditEntry(**{**values, **fields})  # type: ignore[arg-type]


def test_an_entry_over_the_size_limit_is_refused_as_by_fastavro() -> None:
    small = Codec(REGISTRY, max_record_bytes=1024)
    entry = story_entry(payload_ciphertext=bytes(1000))
    with pytest.raises(CodecError) as fast:
        small.encode_event(entry)
    with pytest.raises(CodecError) as generic:
        fastavro_frame(entry, small)
    assert fast.value.reason is generic.value.reason is DeadLetterReason.OVERSIZE
    assert fast.value.detail == generic.value.detail


def test_text_that_is_not_utf8_is_a_schema_violation_as_with_fastavro() -> None:
    entry = story_entry(reason="\ud800")  # a lone surrogate
    with pytest.raises(CodecError) as fast:
        CODEC.encode_event(entry)
    with pytest.raises(CodecError) as generic:
        fastavro_frame(entry)
    assert fast.value.reason is generic.value.reason is DeadLetterReason.SCHEMA_VIOLATION


def test_a_schema_with_other_fields_is_refused() -> None:
    first, latest = REGISTRY.versions(SUBJECT)[0], REGISTRY.latest(SUBJECT)
    AuditEntryWriter(latest.parsed)
    with pytest.raises(UnexpectedSchemaError, match="lawful_bases"):
        AuditEntryWriter(first.parsed)  # version 1 had no lawful_bases


def test_a_later_schema_with_a_field_the_writer_does_not_write_is_encoded_not_refused() -> None:
    """A new AuditEntry version (one more optional field) is written by the generic path,
    as any event is: the hub never refuses to audit because the schema moved on."""
    latest = REGISTRY.latest(SUBJECT)
    later_schema = {
        **latest.schema,
        "fields": [
            *latest.schema["fields"],
            {"name": "note", "type": ["null", "string"], "default": None},
        ],
    }
    later = RegisteredSchema(
        schema_id=latest.schema_id + 10_000,
        subject=SUBJECT,
        version=latest.version + 1,
        schema=later_schema,
        parsed=parse_schema(later_schema),
    )
    codec = Codec(SchemaRegistry([*REGISTRY.versions(SUBJECT), later]))
    frame = codec.encode_event(story_entry())
    assert frame == codec.encode(SUBJECT, story_entry().model_dump())
    decoded = codec.decode(frame)
    assert decoded.schema_id == later.schema_id
    assert decoded.record["note"] is None


def test_no_audit_entry_schema_is_an_unknown_schema_refusal() -> None:
    with pytest.raises(CodecError) as refused:
        Codec(SchemaRegistry([])).encode_event(story_entry())
    assert refused.value.reason is DeadLetterReason.UNKNOWN_SCHEMA_ID


def test_the_same_wall_time_twice_across_a_dst_repeat_is_two_instants() -> None:
    """Paris 02:30 on 2026-10-25 happens twice (fold 0, then fold 1, an hour later): equal as
    datetimes of one zone, not the same instant. The writer's last-time memory must not take
    the second for the first."""
    paris = ZoneInfo("Europe/Paris")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=paris)
    second = first.replace(fold=1)
    assert first == second
    assert first.utcoffset() != second.utcoffset()
    writer = Codec(REGISTRY)
    for instant in (first, second):
        entry = story_entry().model_copy(update={"recorded_at": instant})
        assert writer.encode_event(entry) == fastavro_frame(entry)
