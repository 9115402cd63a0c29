"""Edges of the codec's generated reader and writer found by review: each falls back to
fastavro, never changes what fastavro would have given."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from hub.contracts.codec import HEADER_SIZE, Codec
from hub.contracts.registry import RegisteredSchema, SchemaRegistry

MAGIC = b"\x00"


def codec_of(schema: dict[str, Any], schema_id: int = 7) -> tuple[Codec, RegisteredSchema]:
    registered = RegisteredSchema(schema_id, "test.R", 1, schema, parse_schema(schema))
    return Codec(SchemaRegistry([registered])), registered


def framed(registered: RegisteredSchema, record: dict[str, Any]) -> bytes:
    out = BytesIO()
    out.write(MAGIC + registered.schema_id.to_bytes(4, "big"))
    schemaless_writer(out, registered.parsed, record)
    return out.getvalue()


def test_a_bytearray_frame_decodes_to_bytes_as_fastavro_reads_it() -> None:
    codec, registered = codec_of(
        {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "b", "type": "bytes"},
                {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}},
                {"name": "s", "type": "string"},
            ],
        }
    )
    frame = framed(registered, {"b": b"\x01", "f": b"ab", "s": "x"})
    expected = schemaless_reader(BytesIO(frame[HEADER_SIZE:]), registered.parsed, None)
    for data in (frame, bytearray(frame)):
        record = codec.decode(data).record
        assert record == expected
        assert [type(record[name]) for name in ("b", "f")] == [bytes, bytes]


def deeply_nested(depth: int) -> dict[str, Any]:
    items: Any = "long"
    for _ in range(depth):
        items = {"type": "array", "items": items}
    return {"type": "record", "name": "R", "fields": [{"name": "a", "type": items}]}


def test_a_schema_too_deep_for_generated_code_is_written_by_fastavro() -> None:
    """21 nested arrays are more static blocks than Python compiles: the codec writes with
    fastavro, as before the generated writer, instead of raising SyntaxError on every record."""
    depth = 21
    codec, registered = codec_of(deeply_nested(depth))
    value: Any = [1, -2]
    for _ in range(depth - 1):
        value = [value]
    record = {"a": value}
    assert codec.encode("test.R", record) == framed(registered, record)
