"""The strict Avro check behind the codec (defect 1 in docs/RELIABILITY.md).

What fastavro reads leniently (a negative or too large enum or union index, a boolean byte
other than 0 or 1) is a CORRUPT_FRAME; what a conforming writer may write (several blocks per
array or map, negative block counts with their byte size, over-long varints, an upper-case
uuid) still decodes to the same record. The generated check is compared with a plain reading
of the specification, ``reference_end`` below, on hand-made bytes, on mutated frames of the
example events and on values of random schemas.
"""

from __future__ import annotations

import copy
import io
import re
import struct
import time
from typing import Any

import fastavro
import pytest
from fastavro.utils import generate_one
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_event_models import model_strategy

from hub.contracts.codec import HEADER_SIZE, Codec, CodecError, frame_header
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import EVENT_MODELS, PermitRequested, SafetyFlagsSet, subject_of
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.contracts.strict_avro import AvroLayoutError, Check, check_source, compile_check

EXAMPLES = [event for _agency, event in example_events()]
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


# --------------------------------------------------------------------------- the reference


def reference_end(parsed: Any, data: bytes, pos: int) -> int:
    """Where the value of ``parsed`` at ``pos`` ends, read as the Avro specification says, one
    value at a time; ``ValueError`` or ``IndexError`` where the bytes break it. Varints are
    limited as Java's decoder limits them: 5 bytes for an int, 10 for a long."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}

    def varint(pos: int, max_bytes: int = 10) -> tuple[int, int]:
        n = 0
        for i in range(max_bytes):
            byte = data[pos + i]
            n |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                if n >= 2**64:
                    raise ValueError("varint beyond 64 bits")
                return (n >> 1) ^ -(n & 1), pos + i + 1
        raise ValueError("varint too long")

    def index(pos: int, count: int) -> tuple[int, int]:
        value, pos = varint(pos, 5)
        if not 0 <= value < count:
            raise ValueError(f"index {value} not in 0..{count - 1}")
        return value, pos

    def walk(schema: Any, pos: int) -> int:
        if isinstance(schema, list):
            branch, pos = index(pos, len(schema))
            return walk(schema[branch], pos)
        if isinstance(schema, str) and schema not in PRIMITIVES:
            schema = named[schema]
        kind = schema if isinstance(schema, str) else schema["type"]
        if not isinstance(kind, str):
            return walk(kind, pos)
        if kind == "null":
            return pos
        if kind == "boolean":
            if data[pos] not in (0, 1):
                raise ValueError("boolean byte")
            return pos + 1
        if kind == "int":
            value, pos = varint(pos, 5)
            if not -(2**31) <= value < 2**31:
                raise ValueError("int beyond 32 bits")
            return pos
        if kind == "long":
            return varint(pos)[1]
        if kind in ("float", "double"):
            return pos + (4 if kind == "float" else 8)
        if kind in ("bytes", "string"):
            size, pos = varint(pos)
            if size < 0:
                raise ValueError("negative length")
            return pos + size
        if kind == "fixed":
            return pos + int(schema["size"])
        if kind == "enum":
            return index(pos, len(schema["symbols"]))[1]
        if kind == "record":
            for field in schema["fields"]:
                pos = walk(field["type"], pos)
            return pos
        assert kind in ("array", "map")
        while True:
            count, pos = varint(pos)
            if count == 0:
                return pos
            size = None
            if count < 0:
                count = -count
                size, pos = varint(pos)
                if size < 0:
                    raise ValueError("negative block size")
            start = pos
            for _ in range(count):
                before = pos
                if kind == "map":
                    pos = walk("string", pos)
                pos = walk(schema["values" if kind == "map" else "items"], pos)
                if pos > len(data):
                    raise ValueError("past the end")
                if pos == before:  # items of zero bytes (null): the others take none either
                    break
            if size is not None and pos - start != size:
                raise ValueError("block size")

    end = walk(parsed, pos)
    if end > len(data):
        raise ValueError("past the end")
    return end


def reference_accepts(parsed: Any, data: bytes, pos: int) -> int | None:
    try:
        return reference_end(parsed, data, pos)
    except (ValueError, IndexError):
        return None


def check_accepts(check: Check, data: bytes, pos: int) -> int | None:
    try:
        return check(data, pos)
    except AvroLayoutError:
        return None


# --------------------------------------------------------------------------- a small schema

SMALL = fastavro.parse_schema(
    {
        "type": "record",
        "name": "t.Small",
        "fields": [
            {
                "name": "kind",
                "type": {"type": "enum", "name": "t.Kind", "symbols": ["A", "B", "C"]},
            },
            {"name": "choice", "type": ["null", "string", "long"]},
            {"name": "maybe", "type": ["null", "string"]},
            {"name": "flag", "type": "boolean"},
            {"name": "count", "type": "int"},
            {"name": "names", "type": {"type": "array", "items": "string"}},
            {"name": "scores", "type": {"type": "map", "values": "long"}},
            {"name": "ratio", "type": "double"},
        ],
    },
    named_schemas={},
)
SMALL_CHECK = compile_check(SMALL)
RECORD = {
    "kind": "B",
    "choice": 7,
    "maybe": "é",
    "flag": True,
    "count": -3,
    "names": ["ab", "c", ""],
    "scores": {"x": 1, "yz": 300},
    "ratio": 0.5,
}


def zz(n: int) -> bytes:
    """The canonical zig-zag varint of ``n``."""
    u = (n << 1) ^ (n >> 63)
    out = bytearray()
    while u >= 0x80:
        out.append(u & 0x7F | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def text(s: str) -> bytes:
    return zz(len(s.encode())) + s.encode()


def small(**parts: bytes) -> bytes:
    """RECORD's bytes, with some fields' bytes replaced by hand-made ones."""
    canonical = {
        "kind": zz(1),
        "choice": zz(2) + zz(7),
        "maybe": zz(1) + text("é"),
        "flag": b"\x01",
        "count": zz(-3),
        "names": zz(3) + text("ab") + text("c") + text("") + zz(0),
        "scores": zz(2) + text("x") + zz(1) + text("yz") + zz(300) + zz(0),
        "ratio": struct.pack("<d", 0.5),
    }
    return b"".join(parts.get(name, canonical[name]) for name in canonical)


def write(parsed: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


def read(parsed: Any, data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), parsed, None)


def test_the_hand_made_bytes_are_fastavros() -> None:
    assert small() == write(SMALL, RECORD)
    assert SMALL_CHECK(small(), 0) == len(small())


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"kind": zz(-1)}, "enum t.Kind index -1"),
        ({"kind": zz(3)}, "enum t.Kind index 3"),
        ({"kind": b"\x81\x80\x80\x80\x08"}, "enum t.Kind index -1073741825"),
        ({"choice": zz(-1) + zz(7)}, "union at t.Small.choice index -1"),
        ({"choice": zz(-2) + text("ab")}, "union at t.Small.choice index -2"),
        ({"choice": zz(3) + zz(7)}, "union at t.Small.choice index 3"),
        ({"maybe": zz(-1) + text("é")}, "union at t.Small.maybe index -1"),
        ({"maybe": zz(2) + text("é")}, "union at t.Small.maybe index 2"),
        ({"maybe": b"\x81\x00" + text("é")}, "union at t.Small.maybe index -1"),
        ({"flag": b"\x02"}, "boolean byte 0x02 at t.Small.flag"),
        ({"flag": b"\xff"}, "boolean byte 0xff at t.Small.flag"),
        ({"count": zz(2**31)}, "does not fit 32 bits"),
        ({"count": b"\x80\x80\x80\x80\x80\x00"}, "longer than 5 bytes"),
        ({"names": zz(1) + zz(-2) + b"ab" + zz(0)}, "negative length -2"),
        ({"names": zz(-1) + zz(-3) + text("a") + zz(0)}, "negative block size -3"),
        ({"names": zz(-1) + zz(3) + text("a") + zz(0)}, "block size 3 at array"),
        ({"names": zz(2**40) + text("a") + zz(0)}, "runs past the end"),
        ({"scores": zz(1) + text("x") + b"\xff" * 10 + b"\x01" + zz(0)}, "longer than 10"),
        ({"scores": zz(1) + text("x") + b"\xff" * 9 + b"\x7f" + zz(0)}, "overflows a long"),
        ({"ratio": b"\x00" * 7}, "runs past the end"),
    ],
)
def test_what_the_specification_forbids_is_refused(parts: dict[str, bytes], message: str) -> None:
    data = small(**parts)
    with pytest.raises(AvroLayoutError, match=re.escape(message)):
        SMALL_CHECK(data, 0)
    assert reference_accepts(SMALL, data, 0) is None


@pytest.mark.parametrize(
    "parts",
    [
        {"names": zz(1) + text("ab") + zz(2) + text("c") + text("") + zz(0)},
        {"names": zz(1) + text("ab") + zz(1) + text("c") + zz(1) + text("") + zz(0)},
        {"names": zz(-3) + zz(6) + text("ab") + text("c") + text("") + zz(0)},
        {"names": zz(-2) + zz(5) + text("ab") + text("c") + zz(-1) + zz(1) + text("") + zz(0)},
        {"names": zz(3) + text("ab") + text("c") + text("") + b"\x80\x80\x00"},  # a long 0
        {"names": b"\x86\x00" + text("ab") + text("c") + text("") + zz(0)},  # a long 3
        {"scores": zz(1) + text("x") + zz(1) + zz(-1) + zz(5) + text("yz") + zz(300) + zz(0)},
        {"kind": b"\x82\x80\x00"},
        {"choice": b"\x84\x00" + zz(7)},
        {"maybe": b"\x82\x80\x80\x80\x00" + text("é")},
        {"count": b"\x85\x80\x80\x80\x00"},  # -3 in 5 bytes
    ],
)
def test_what_other_writers_may_write_is_accepted(parts: dict[str, bytes]) -> None:
    data = small(**parts)
    assert SMALL_CHECK(data, 0) == len(data) == reference_end(SMALL, data, 0)
    assert read(SMALL, data) == RECORD


def test_a_truncated_value_is_refused_at_every_length() -> None:
    data = small()
    for cut in range(len(data)):
        with pytest.raises(AvroLayoutError):
            SMALL_CHECK(data[:cut], 0)


def test_a_recursive_schema_is_checked_through_functions() -> None:
    node = fastavro.parse_schema(
        {
            "type": "record",
            "name": "t.Node",
            "fields": [
                {"name": "value", "type": "long"},
                {"name": "next", "type": ["null", "t.Node"]},
                {"name": "children", "type": {"type": "array", "items": "t.Node"}},
            ],
        },
        named_schemas={},
    )
    leaf: dict[str, Any] = {"value": 3, "next": None, "children": []}
    chain: dict[str, Any] = leaf
    for value in range(50):
        chain = {"value": value, "next": chain, "children": [leaf, leaf]}
    data = write(node, chain)
    assert "_record_" in check_source(node)[0]
    assert compile_check(node)(data, 0) == len(data)
    with pytest.raises(AvroLayoutError, match=re.escape("union at t.Node.next index -1")):
        compile_check(node)(zz(1) + zz(-1), 0)


def test_huge_block_counts_are_refused_or_skipped_at_once() -> None:
    of_nulls = fastavro.parse_schema({"type": "array", "items": "null"})
    of_strings = fastavro.parse_schema({"type": "array", "items": "string"})
    started = time.monotonic()
    nulls = zz(2**62) + zz(0)
    assert compile_check(of_nulls)(nulls, 0) == len(nulls)
    with pytest.raises(AvroLayoutError, match="runs past the end"):
        compile_check(of_strings)(zz(-(2**62)) + zz(1) + zz(0), 0)
    assert time.monotonic() - started < 1


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    flips=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from([0, 1, 2, 3, 0x7F, 0x80, 0x81, 0xFF])),
        min_size=1,
        max_size=3,
    ),
)
def test_the_check_agrees_with_the_reference_on_mutated_bytes(
    data: st.DataObject, flips: list[tuple[int, int]]
) -> None:
    body = bytearray(small())
    for at, byte in flips:
        body[at % len(body)] = byte
    cut = data.draw(st.integers(0, len(body)))
    mutated = bytes(body[:cut])
    assert check_accepts(SMALL_CHECK, mutated, 0) == reference_accepts(SMALL, mutated, 0)


# --------------------------------------------------------------------------- random schemas

LEAVES = (
    st.sampled_from(sorted(PRIMITIVES))
    | st.sampled_from([1, 2, 3, 63, 64, 65]).map(lambda n: {"type": "enum", "count": n})
    | st.integers(0, 3).map(lambda n: {"type": "fixed", "size": n})
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        children.map(lambda t: {"type": "array", "items": t})
        | children.map(lambda t: {"type": "map", "values": t})
        | st.lists(children, min_size=1, max_size=4)
        | st.lists(children, max_size=4).map(lambda ts: {"type": "record", "fields": ts})
    )


SHAPES = st.recursive(LEAVES, _containers, max_leaves=12)


def named(shape: Any, names: list[str]) -> Any:
    """A valid schema from a drawn shape: named types named, enums given symbols, unions
    without nested unions or two branches of one kind."""
    if isinstance(shape, list):
        branches: dict[str, Any] = {}
        for branch in (named(s, names) for s in shape if not isinstance(s, list)):
            kind = branch if isinstance(branch, str) else branch.get("name", branch["type"])
            branches.setdefault(kind, branch)
        return list(branches.values()) or ["null"]
    if isinstance(shape, str):
        return shape
    schema = dict(shape)
    if schema["type"] in ("enum", "fixed", "record"):
        names.append(f"t.N{len(names)}")
        schema["name"] = names[-1]
    if schema["type"] == "enum":
        schema["symbols"] = [f"S{i}" for i in range(schema.pop("count"))]
    if schema["type"] == "record":
        fields = [named(t, names) for t in schema["fields"]]
        schema["fields"] = [{"name": f"f{i}", "type": t} for i, t in enumerate(fields)]
    for key in ("items", "values"):
        if key in schema:
            schema[key] = named(schema[key], names)
    return schema


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=SHAPES, data=st.data())
def test_the_check_agrees_with_the_reference_on_random_schemas(
    shape: Any, data: st.DataObject
) -> None:
    schema = named({"type": "record", "fields": [shape]}, [])
    parsed = fastavro.parse_schema(schema, named_schemas={})
    check = compile_check(parsed)
    valid = write(parsed, generate_one(parsed))  # random, seeded by hypothesis
    assert check(valid, 0) == len(valid) == reference_end(parsed, valid, 0)
    body = bytearray(valid + b"\x00")
    for _ in range(data.draw(st.integers(1, 2))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.sampled_from([0, 1, 2, 3, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
    mutated = bytes(body[: data.draw(st.integers(0, len(body)))])
    assert check_accepts(check, mutated, 0) == reference_accepts(parsed, mutated, 0)


# --------------------------------------------------------------------------- through the codec


@pytest.fixture(scope="module")
def codec(registry: SchemaRegistry) -> Codec:
    return Codec(registry, max_record_bytes=64 * 1024)


@pytest.fixture(scope="module")
def frames(codec: Codec) -> list[bytes]:
    return [codec.encode_event(event) for event in EXAMPLES]


@pytest.fixture(scope="module")
def checks(registry: SchemaRegistry) -> dict[int, Check]:
    return {schema.schema_id: compile_check(schema.parsed) for schema in registry}


def _framed(registry: SchemaRegistry, event: Any, path: str, writer_type: Any, value: Any) -> bytes:
    """``event`` framed under its registered id, with the field at ``path`` (``person.is_minor``)
    written as ``writer_type``: byte surgery done by a writer schema."""
    registered = registry.latest(subject_of(type(event)))
    schema = copy.deepcopy(registered.schema)
    record = event.model_dump()
    *parents, name = path.split(".")
    fields, target = schema["fields"], record
    for parent in parents:
        field = next(f for f in fields if f["name"] == parent)
        fields, target = field["type"]["fields"], target[parent]
    field = next(f for f in fields if f["name"] == name)
    field["type"] = writer_type
    field.pop("default", None)  # a null default would not fit a record writer type
    target[name] = value
    writer = fastavro.parse_schema(schema, named_schemas={})
    return struct.pack(">bI", 0, registered.schema_id) + write(writer, record)


def _record_type(name: str, **fields: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"t.{name}",
        "fields": [{"name": n, "type": t} for n, t in fields.items()],
    }


PERMIT = next(e for e in EXAMPLES if isinstance(e, PermitRequested))
FLAGS = next(e for e in EXAMPLES if isinstance(e, SafetyFlagsSet))
INDEX_AND_STRING = _record_type("IndexAndString", index="int", value="string")


@pytest.mark.parametrize(
    ("event", "path", "writer_type", "value", "message"),
    [
        (PERMIT, "permit_type", "int", -1, "enum fr.nrm.PermitType index -1"),
        # -4 is read as the same symbol as 1, the canonical one: still not a valid index
        (PERMIT, "permit_type", "int", -4, "enum fr.nrm.PermitType index -4"),
        (PERMIT, "permit_type", "int", 6, "out of range"),  # fastavro: IndexError
        (
            PERMIT,
            "person.first_name",
            INDEX_AND_STRING,
            {"index": -1, "value": "Amina"},
            "union at fr.nrm.Person.first_name index -1",
        ),
        (PERMIT, "person.first_name", INDEX_AND_STRING, {"index": 2, "value": "Amina"}, None),
        (PERMIT, "person.is_minor", ["null", "int"], 1, "boolean byte 0x02"),
        (
            PERMIT,
            "person.is_minor",
            ["null", {"type": "fixed", "name": "t.Byte", "size": 1}],
            b"\xff",
            "boolean byte 0xff at fr.nrm.Person.is_minor",
        ),
        (FLAGS, "do_not_contact", "int", 1, "boolean byte 0x02 at fr.nrm.SafetyFlagsSet"),
        (FLAGS, "safe_channel", "int", -1, "enum fr.nrm.SafeChannel index -1"),
    ],
)
def test_corrupt_indices_and_booleans_are_corrupt_frames(
    codec: Codec,
    registry: SchemaRegistry,
    event: Any,
    path: str,
    writer_type: Any,
    value: Any,
    message: str | None,
) -> None:
    frame = _framed(registry, event, path, writer_type, value)
    with pytest.raises(CodecError) as refused:
        codec.decode(frame)
    assert refused.value.reason is DeadLetterReason.CORRUPT_FRAME
    assert refused.value.schema_id == frame_header(frame)
    if message:
        assert message in refused.value.detail


def _blocks(*parts: tuple[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A writer type for a ``["null", array<string>]`` field written as the given varints
    (``("long", n)``) and strings (``("string", s)``), and its value."""
    fields = {f"f{i}": kind for i, (kind, _) in enumerate(parts)}
    value = {f"f{i}": v for i, (_, v) in enumerate(parts)}
    return ["null", _record_type("Blocks", **fields)], value


def _size(*strings: str) -> int:
    return sum(len(text(s)) for s in strings)


@pytest.mark.parametrize(
    ("path", "writer_type", "value"),
    [
        (
            "person.languages",
            *_blocks(
                ("long", 1),
                ("string", "fr"),
                ("long", 2),
                ("string", "ff"),
                ("string", "en"),
                ("long", 0),
            ),
        ),
        (
            "person.languages",
            *_blocks(
                ("long", -2),
                ("long", _size("fr", "ff")),
                ("string", "fr"),
                ("string", "ff"),
                ("long", -1),
                ("long", _size("en")),
                ("string", "en"),
                ("long", 0),
            ),
        ),
        ("envelope.event_id", "string", str(PERMIT.envelope.event_id).upper()),
        ("permit_type", {"type": "fixed", "name": "t.LongOne", "size": 3}, b"\x82\x80\x00"),
    ],
    ids=["two-blocks", "sized-blocks", "upper-case-uuid", "long-varint"],
)
def test_valid_non_canonical_encodings_decode_to_the_same_record(
    codec: Codec, registry: SchemaRegistry, path: str, writer_type: Any, value: Any
) -> None:
    frame = _framed(registry, PERMIT, path, writer_type, value)
    canonical = codec.encode_event(PERMIT)
    assert frame != canonical
    assert codec.decode(frame) == codec.decode(canonical)


def test_trailing_bytes_are_still_refused(codec: Codec, frames: list[bytes]) -> None:
    for frame in frames:
        with pytest.raises(CodecError) as refused:
            codec.decode(frame + b"\x00")
        assert refused.value.reason is DeadLetterReason.CORRUPT_FRAME


def test_every_registered_schema_checks_its_example(
    registry: SchemaRegistry, frames: list[bytes], checks: dict[int, Check]
) -> None:
    assert set(checks) == {schema.schema_id for schema in registry}
    for frame in frames:
        schema_id = frame_header(frame)
        assert checks[schema_id](frame, HEADER_SIZE) == len(frame)
        assert reference_end(registry.by_id(schema_id).parsed, frame, HEADER_SIZE) == len(frame)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_random_valid_events_round_trip(codec: Codec, data: st.DataObject) -> None:
    model = EVENT_MODELS[data.draw(st.sampled_from(sorted(EVENT_MODELS)))]
    event = data.draw(model_strategy(model))
    assert codec.decode_event(codec.encode_event(event)) == event


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_frames_are_refused_exactly_when_the_reference_refuses(
    codec: Codec,
    registry: SchemaRegistry,
    frames: list[bytes],
    checks: dict[int, Check],
    data: st.DataObject,
) -> None:
    # Mostly one byte changed, to a small odd (a negative index) or even value, and no cut:
    # what fastavro reads leniently is a single byte in an otherwise valid frame.
    frame = bytearray(data.draw(st.sampled_from(frames)))
    for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]))):
        at = data.draw(st.integers(HEADER_SIZE, len(frame) - 1))
        frame[at] = data.draw(
            st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x7F, 0x80, 0xFF])
            | st.integers(0, 255)
        )
    cut = data.draw(st.just(len(frame)) | st.integers(HEADER_SIZE, len(frame)))
    mutated = bytes(frame[:cut])
    schema_id = frame_header(mutated)
    reference = reference_accepts(registry.by_id(schema_id).parsed, mutated, HEADER_SIZE)
    assert check_accepts(checks[schema_id], mutated, HEADER_SIZE) == reference
    strict = reference == len(mutated)
    try:
        codec.decode(mutated)
    except CodecError as exc:
        assert exc.reason in {DeadLetterReason.CORRUPT_FRAME, DeadLetterReason.SCHEMA_VIOLATION}
        assert exc.reason is DeadLetterReason.CORRUPT_FRAME or strict
    else:
        assert strict, "the codec decoded bytes the specification refuses"
