"""The generated Avro reader reads what fastavro reads, and the codec decides as it did without it.

The reader is a shortcut of ``Codec.decode`` (``hub.contracts.avro_reader``): its value must be
fastavro's, value for value and type for type, for every registered schema; and a record it
cannot read, or one the strict check refuses, must get from the codec exactly what fastavro's
path gives it (the same dead-letter reason and detail). Each case is compared with a codec that
has no generated reader, the codec as it was.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hub.contracts.codec as codec_module
from hub.contracts.avro_reader import UnreadableError, compile_reader
from hub.contracts.codec import HEADER_SIZE, Codec, CodecError, Decoded
from hub.contracts.examples import example_events
from hub.contracts.registry import RegisteredSchema, SchemaRegistry

GENERATED_PER_SCHEMA = 25


def fastavro_value(schema: RegisteredSchema, body: bytes) -> Any:
    return schemaless_reader(BytesIO(body), schema.parsed, None)


def typed(value: Any) -> Any:
    """``value`` with every leaf's type beside it: True and 1, 1.0 and 1 compare equal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value), value)


def generated(schema: RegisteredSchema, count: int, seed: int) -> Iterator[bytes]:
    """``count`` random bodies of ``schema``, as fastavro writes them."""
    random.seed(seed)
    for record in generate_many(schema.parsed, count):
        out = BytesIO()
        schemaless_writer(out, schema.parsed, record)
        yield out.getvalue()


def test_every_registered_schema_is_read_as_fastavro_reads_it(registry: SchemaRegistry) -> None:
    for number, schema in enumerate(registry):
        read = compile_reader(schema.parsed)
        for body in generated(schema, GENERATED_PER_SCHEMA, seed=number):
            value, end = read(body, 0)
            assert end == len(body), schema.subject
            assert typed(value) == typed(fastavro_value(schema, body)), schema.subject


EXAMPLES = [event for _agency, event in example_events()]


@pytest.fixture(scope="module")
def codecs(registry: SchemaRegistry) -> tuple[Codec, Codec]:
    """The codec, and one as it was before the generated reader (fastavro reads everything)."""
    fast = Codec(registry, max_record_bytes=64 * 1024)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec_module, "_fast_reader", lambda _writer: None)
        plain = Codec(registry, max_record_bytes=64 * 1024)
        for schema in registry:  # every reading worked out now, while fastavro reads all
            plain._reading(schema.schema_id)
    for schema in registry:
        fast._reading(schema.schema_id)
        assert plain._readings[schema.schema_id].fast is None
    return fast, plain


def outcome(codec: Codec, frame: bytes) -> tuple[str, Any]:
    try:
        decoded = codec.decode(frame)
    except CodecError as exc:
        return "refused", (exc.reason, exc.detail, exc.schema_id)
    return "decoded", (decoded.schema_id, decoded.subject, typed(decoded.record))


def mutations(frame: bytes, schema_ids: list[int]) -> Iterator[bytes]:
    """Every byte of the body flipped to a few values, cut at every length, a byte more, and
    the body under every other registered schema id."""
    body = frame[HEADER_SIZE:]
    for at in range(len(body)):
        for byte in {0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, body[at] ^ 0x01, body[at] ^ 0x40}:
            yield frame[: HEADER_SIZE + at] + bytes([byte]) + frame[HEADER_SIZE + at + 1 :]
    for cut in range(HEADER_SIZE, len(frame)):
        yield frame[:cut]
    yield frame + b"\x00"
    for schema_id in schema_ids:
        yield struct.pack(">bI", 0, schema_id) + body


@pytest.mark.parametrize("event", EXAMPLES, ids=[type(e).__name__ for e in EXAMPLES])
def test_a_damaged_record_gets_what_fastavro_gave_it(
    event: Any, codecs: tuple[Codec, Codec], registry: SchemaRegistry
) -> None:
    fast, plain = codecs
    frame = plain.encode_event(event)
    assert outcome(fast, frame) == outcome(plain, frame)
    assert outcome(fast, frame)[0] == "decoded"
    schema_ids = [schema.schema_id for schema in registry]
    for damaged in mutations(frame, schema_ids):
        assert outcome(fast, damaged) == outcome(plain, damaged), damaged.hex()


def test_the_generated_reader_reads_only_records_of_the_latest_version(
    registry: SchemaRegistry, codecs: tuple[Codec, Codec]
) -> None:
    # An older version is resolved to the latest by fastavro: no generated reader for it.
    fast, _plain = codecs
    for schema in registry:
        reading = fast._readings[schema.schema_id]
        assert (reading.fast is not None) is (registry.latest(schema.subject) is schema)


UNREADABLE_SCHEMAS = [
    ("a field name that is not an Avro name", {"type": "record", "name": "R", "fields": [
        {"name": "a b", "type": "int"}]}),
    ("an unknown type", {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": {"type": "decimal128"}}]}),
]  # fmt: skip


@pytest.mark.parametrize(
    "schema", [s for _n, s in UNREADABLE_SCHEMAS], ids=[n for n, _s in UNREADABLE_SCHEMAS]
)
def test_a_schema_the_generator_cannot_read_is_left_to_fastavro(schema: dict[str, Any]) -> None:
    with pytest.raises(UnreadableError):
        compile_reader(schema)


ARRAY = {"type": "array", "items": "long"}
NODE = {"type": "record", "name": "Node", "fields": [
    {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}  # fmt: skip
READS = [
    ("a multi-block array", [1, 2, 3], ARRAY, b"\x02\x02\x04\x04\x06\x00"),
    ("a block count with its size", [3], ARRAY, b"\x01\x02\x06\x00"),
    ("a long in ten bytes", -(2**63), "long", b"\xff" * 9 + b"\x01"),
    ("a string of 64 bytes", "x" * 64, "string", b"\x80\x01" + b"x" * 64),
    ("a map", {"a": 1}, {"type": "map", "values": "int"}, b"\x02\x02a\x02\x00"),
    ("a float", 0.5, "float", struct.pack("<f", 0.5)),
    ("a double", 0.25, "double", struct.pack("<d", 0.25)),
    ("a fixed", b"ab", {"type": "fixed", "name": "F", "size": 2}, b"ab"),
    ("bytes", b"\x00\x01", "bytes", b"\x04\x00\x01"),
    ("an optional in two index bytes", 7, ["null", "int"], b"\x82\x00\x0e"),
    ("a recursive record", {"v": 1, "next": {"v": 2, "next": None}}, NODE, b"\x02\x02\x04\x00"),
    ("a union of three", "x", ["null", "int", "string"], b"\x04\x02x"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("expected", "schema", "body"),
    [(e, s, b) for _n, e, s, b in READS],
    ids=[n for n, *_rest in READS],
)
def test_rarer_encodings_read_as_fastavro_reads_them(
    expected: Any, schema: Any, body: bytes
) -> None:
    parsed = parse_schema(schema)
    value, end = compile_reader(parsed)(body, 0)
    assert end == len(body)
    fastavro = schemaless_reader(BytesIO(body), parsed, None)
    assert typed(value) == typed(fastavro) == typed(expected)


def test_a_decoded_record_is_the_same_value_either_way(codecs: tuple[Codec, Codec]) -> None:
    fast, plain = codecs
    for event in EXAMPLES:
        frame = plain.encode_event(event)
        first, second = fast.decode(frame), plain.decode(frame)
        assert isinstance(first, Decoded)
        assert typed(first.record) == typed(second.record)


UUID_TEXTS = [
    "4530c681-a0ad-4968-ba65-4b8ea97020cd",
    "4530C681-A0AD-4968-BA65-4B8EA97020CD",
    "{4530c681-a0ad-4968-ba65-4b8ea97020cd}",
    "urn:uuid:4530c681-a0ad-4968-ba65-4b8ea97020cd",
    "4530c681a0ad4968ba654b8ea97020cd",
    "4530c681-a0ad-4968-ba65-4b8ea97020c",
    "not a uuid",
    "",
]


@pytest.mark.parametrize("text", UUID_TEXTS)
def test_a_remembered_uuid_is_the_one_fastavro_reads_and_a_bad_one_never_is(text: str) -> None:
    schema = parse_schema({"type": "string", "logicalType": "uuid"})
    body = BytesIO()
    schemaless_writer(body, {"type": "string"}, text)
    read = compile_reader(schema)
    for _again in range(2):  # the second read comes from the cache
        try:
            expected: Any = fastavro_value_of(schema, body.getvalue())
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)):
                read(body.getvalue(), 0)
        else:
            assert read(body.getvalue(), 0) == (expected, len(body.getvalue()))


def fastavro_value_of(parsed: Any, body: bytes) -> Any:
    return schemaless_reader(BytesIO(body), parsed, None)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_frame_damaged_anywhere_gets_what_fastavro_gave_it(
    data: st.DataObject, codecs: tuple[Codec, Codec]
) -> None:
    # Several bytes changed, inserted or cut at once, which the single flips above never try.
    fast, plain = codecs
    frame = bytearray(plain.encode_event(data.draw(st.sampled_from(EXAMPLES))))
    for _change in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(HEADER_SIZE, len(frame)))
        what = data.draw(st.sampled_from(["set", "insert", "cut"]))
        byte = data.draw(st.integers(0, 255))
        if what == "set" and at < len(frame):
            frame[at] = byte
        elif what == "insert":
            frame[at:at] = bytes([byte])
        else:
            del frame[at : at + data.draw(st.integers(1, 8))]
    assert outcome(fast, bytes(frame)) == outcome(plain, bytes(frame))
