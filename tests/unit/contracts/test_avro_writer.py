"""The generated Avro writer writes what fastavro writes; the codec decides as it did without it.

The writer is a shortcut of ``Codec.encode_with`` (``hub.contracts.avro_writer``): the bytes it
writes must be fastavro's, byte for byte, for every registered schema and every shape of value
the hub hands it (uuids as ``UUID`` or text, instants aware, naive or in milliseconds, enum
symbols as ``StrEnum`` members or text); a record it is unsure of, or one fastavro refuses, must
get from the codec exactly what fastavro's path gives it (the same bytes, or the same dead-letter
reason and detail). Each case is compared with a codec that has no generated writer.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro.utils import generate_many
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.contracts.avro_writer import UnwritableError, compile_writer
from hub.contracts.codec import Codec, CodecError
from hub.contracts.examples import example_events
from hub.contracts.registry import RegisteredSchema, SchemaRegistry

GENERATED_PER_SCHEMA = 25
EXAMPLES = [event for _agency, event in example_events()]


def fastavro_bytes(parsed: Any, value: Any) -> bytes:
    out = BytesIO()
    schemaless_writer(out, parsed, value)
    return out.getvalue()


def written(parsed: Any, value: Any) -> bytes:
    out = bytearray()
    compile_writer(parsed)(out, value)
    return bytes(out)


@pytest.fixture(scope="module")
def codecs(registry: SchemaRegistry) -> tuple[Codec, Codec]:
    """The codec, and one as it was before the generated writer (fastavro writes everything)."""
    fast = Codec(registry, max_record_bytes=64 * 1024)
    plain = Codec(registry, max_record_bytes=64 * 1024)
    for schema in registry:
        plain._writers[schema.schema_id] = (schema, None)
    return fast, plain


def outcome(codec: Codec, schema: RegisteredSchema, record: Any) -> tuple[Any, ...]:
    try:
        return ("written", codec.encode_with(schema, record))
    except CodecError as exc:
        return ("refused", exc.reason, exc.detail, exc.schema_id)


def test_every_registered_schema_is_written_as_fastavro_writes_it(
    registry: SchemaRegistry,
) -> None:
    for number, schema in enumerate(registry):
        random.seed(number)
        for record in generate_many(schema.parsed, GENERATED_PER_SCHEMA):
            assert written(schema.parsed, record) == fastavro_bytes(schema.parsed, record)


def test_every_example_event_is_written_by_the_generated_writer(
    registry: SchemaRegistry, codecs: tuple[Codec, Codec]
) -> None:
    fast, plain = codecs
    for event in EXAMPLES:
        record = event.model_dump()
        schema = next(s for s in registry if fast.encode_event(event)[1:5] == _id(s))
        assert written(schema.parsed, record) == fastavro_bytes(schema.parsed, record)
        assert fast.encode_event(event) == plain.encode_event(event)


def _id(schema: RegisteredSchema) -> bytes:
    return schema.schema_id.to_bytes(4, "big")


# Values as the hub hands them, from each schema: what the generated writer must write itself.
def values(schema: Any, named: dict[str, Any], odd: bool) -> st.SearchStrategy[Any]:
    """Values of ``schema``; with ``odd``, one in eight is a value fastavro may refuse, write
    another way or choose another union branch for."""
    good = _good(schema, named, odd)
    if not odd:
        return good
    return st.one_of(*[good] * 7, _odd(schema, named))


def _good(schema: Any, named: dict[str, Any], odd: bool) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        return st.one_of(*(values(branch, named, odd) for branch in schema))
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    kind = schema if isinstance(schema, str) else schema["type"]
    if not isinstance(kind, str):
        return values(kind, named, odd)
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if (kind, logical) == ("string", "uuid"):
        return st.one_of(st.uuids(), st.uuids().map(str))
    if (kind, logical) == ("long", "timestamp-millis"):
        instants = st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1))
        return st.one_of(
            instants.map(lambda d: d.replace(tzinfo=UTC)), instants, st.integers(0, 2**42)
        )
    if (kind, logical) == ("int", "date"):
        return st.one_of(st.dates(), st.integers(-(2**20), 2**20))
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "string": st.text(max_size=80),
        "bytes": st.binary(max_size=80),
        "double": st.floats(allow_nan=False),
    }
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        members = StrEnum("Symbols", {s: s for s in schema["symbols"]})  # type: ignore[misc]
        return st.one_of(st.sampled_from(schema["symbols"]), st.sampled_from(list(members)))
    if kind == "array":
        return st.lists(values(schema["items"], named, odd), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), values(schema["values"], named, odd))
    assert kind == "record", kind
    return st.fixed_dictionaries(
        {field["name"]: values(field["type"], named, odd) for field in schema["fields"]}
    )


def _odd(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    anything = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=4),
        st.binary(max_size=4),
        st.just("\ud800"),  # not UTF-8
        st.just("NOT_A_SYMBOL"),
        st.just([]),
        st.just(()),
        st.just({}),
        st.just(("string", "x")),  # fastavro's (branch name, value) notation
        st.just(date(2024, 2, 29)),
        st.just(datetime(2024, 2, 29, 12)),
        st.just("2024-02-29"),
        st.just(uuid.UUID(int=7)),
    )
    if isinstance(schema, dict) and schema.get("type") == "record":
        whole = _good(schema, named, odd=False)
        return st.one_of(
            anything,
            whole.flatmap(lambda r: st.sampled_from(sorted(r)).map(lambda k: _without(r, k))),
            whole.map(lambda r: {**r, "extra": object()}),
            whole.map(lambda r: {**r, "-type": "fr.nrm.Other"}),
            whole.map(lambda r: list(r.items())),
        )
    if isinstance(schema, dict) and schema.get("type") == "array":
        return st.one_of(anything, st.lists(_good(schema["items"], named, False)).map(tuple))
    return anything


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def _named(schema: RegisteredSchema) -> dict[str, Any]:
    named: dict[str, Any] = schema.parsed.get("__named_schemas", {})
    return named


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_records_as_the_hub_hands_them_are_written_by_the_generated_writer_as_fastavro_does(
    data: st.DataObject, registry: SchemaRegistry
) -> None:
    schema = data.draw(st.sampled_from(list(registry)))
    record = data.draw(values(schema.parsed, _named(schema), odd=False))
    assert written(schema.parsed, record) == fastavro_bytes(schema.parsed, record)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_record_gets_from_the_codec_what_fastavro_gave_it(
    data: st.DataObject, registry: SchemaRegistry, codecs: tuple[Codec, Codec]
) -> None:
    fast, plain = codecs
    schema = data.draw(st.sampled_from(list(registry)))
    record = data.draw(values(schema.parsed, _named(schema), odd=True))
    assert outcome(fast, schema, record) == outcome(plain, schema, record)


BAD_VALUES = [None, True, 2**63, -(2**63) - 1, 2**31, 1.5, "NOT_A_SYMBOL", "\ud800", b"\xff",
              [], ("string", "x"), {}, object()]  # fmt: skip


@pytest.mark.parametrize("event", EXAMPLES, ids=[type(e).__name__ for e in EXAMPLES])
def test_a_record_fastavro_refuses_gets_the_same_reason_and_detail(
    event: Any, registry: SchemaRegistry, codecs: tuple[Codec, Codec]
) -> None:
    # Every top-level field of the example set to each bad value, or left out.
    fast, plain = codecs
    record = event.model_dump()
    schema = next(s for s in registry if plain.encode_event(event)[1:5] == _id(s))
    refused = 0
    for name in record:
        for bad in [*BAD_VALUES, ...]:
            changed = _without(record, name) if bad is ... else {**record, name: bad}
            expected = outcome(plain, schema, changed)
            assert outcome(fast, schema, changed) == expected, (name, bad)
            refused += expected[0] == "refused"
    assert refused > len(record) * 5  # most of them are refused: the table tests refusals


OPTIONAL_INT = ["null", "int"]
ITEMS = {"type": "array", "items": "long"}
PAIR = {"type": "record", "name": "Pair", "fields": [
    {"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": "z"}]}  # fmt: skip
ROLE = {"type": "enum", "name": "Role", "symbols": ["POLICE", "PREFECTURE"]}
UUID_TYPE = {"type": "string", "logicalType": "uuid"}
INSTANT = {"type": "long", "logicalType": "timestamp-millis"}


class Role(StrEnum):
    POLICE = "POLICE"
    PREFECTURE = "PREFECTURE"


# (case, schema, value, written by the generated writer: the bytes, or None when it leaves the
# value to fastavro, which writes it or refuses it)
CHOICES = [
    ("None takes the null branch", OPTIONAL_INT, None, b"\x00"),
    ("an int takes the int branch", OPTIONAL_INT, -1, b"\x02\x01"),
    ("a bool is no int of a union", OPTIONAL_INT, True, None),
    ("an int beyond 32 bits is no int of a union", OPTIONAL_INT, 2**31, None),
    ("an int beyond 32 bits outside a union", "int", 2**31, None),
    ("a bool for an int outside a union", "int", True, None),
    ("a long beyond 64 bits", ["null", "long"], 2**63, None),
    ("a float for an int", OPTIONAL_INT, 1.0, None),
    ("an int for a double", ["null", "double"], 1, None),
    ("a StrEnum member for a string", ["null", "string"], Role.POLICE, b"\x02\x0cPOLICE"),
    ("a StrEnum member for an enum", ["null", ROLE], Role.PREFECTURE, b"\x02\x02"),
    ("a string for an enum", ["null", ROLE], "POLICE", b"\x02\x00"),
    ("a symbol the enum lacks", ["null", ROLE], "MAYOR", None),
    ("a tuple for an optional array (a branch name and a value)", ["null", ITEMS], (1,), None),
    ("a tuple for an array outside a union", ITEMS, (1, -1), b"\x04\x02\x01\x00"),
    ("a record with a key the schema lacks", ["null", PAIR], {"a": 1, "b": "", "c": 2},
     b"\x02\x02\x00"),
    ("a record missing a field with a default", ["null", PAIR], {"a": 1}, None),
    ("a record with a -type key", ["null", PAIR], {"a": 1, "b": "", "-type": "Pair"}, None),
    ("a UUID for a uuid", ["null", UUID_TYPE], uuid.UUID(int=1),
     b"\x02\x48" + str(uuid.UUID(int=1)).encode()),
    ("an aware instant", ["null", INSTANT], datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
     b"\x02\xd0\x0f"),
    ("an instant in milliseconds", INSTANT, 1000, b"\xd0\x0f"),
    ("a naive instant (local time, fastavro's converter)", INSTANT, datetime(2024, 1, 1),
     fastavro_bytes(parse_schema(INSTANT), datetime(2024, 1, 1))),
    ("an int for a boolean", ["null", "boolean"], 1, None),
    ("a str for bytes", ["null", "bytes"], "x", None),
    ("a bytearray for bytes", "bytes", bytearray(b"x"), b"\x02x"),
    ("a string that is not UTF-8", "string", "\ud800", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [(s, v, e) for _n, s, v, e in CHOICES],
    ids=[n for n, *_rest in CHOICES],
)
def test_a_value_is_written_as_fastavro_writes_it_or_left_to_fastavro(
    schema: Any, value: Any, expected: bytes | None
) -> None:
    parsed = parse_schema(schema)
    write = compile_writer(parsed)
    out = bytearray()
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017, PT011  # any exception: fastavro writes it
            write(out, value)
        return
    write(out, value)
    assert bytes(out) == expected == fastavro_bytes(parsed, value)


UNWRITABLE_SCHEMAS = [
    ("a union with null second", ["int", "null"]),
    ("a union of three", ["null", "int", "string"]),
    ("a field name that is not an Avro name", {"type": "record", "name": "R", "fields": [
        {"name": "a b", "type": "int"}]}),
]  # fmt: skip


@pytest.mark.parametrize(
    "schema", [s for _n, s in UNWRITABLE_SCHEMAS], ids=[n for n, _s in UNWRITABLE_SCHEMAS]
)
def test_a_schema_the_generator_does_not_write_is_left_to_fastavro(schema: Any) -> None:
    with pytest.raises(UnwritableError):
        compile_writer(parse_schema(schema))


def test_longs_and_lengths_of_every_width(registry: SchemaRegistry) -> None:
    for number in [0, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]:
        assert written(parse_schema("long"), number) == fastavro_bytes("long", number)
    for size in [0, 63, 64, 8191, 8192, 70_000]:
        text = "é" * size
        assert written(parse_schema("string"), text) == fastavro_bytes("string", text)
        items = list(range(size))
        assert written(parse_schema(ITEMS), items) == fastavro_bytes(ITEMS, items)
