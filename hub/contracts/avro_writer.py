"""A writer of Avro binary generated per schema: fastavro's bytes at a fraction of the CPU, for
the codec's records of registered schemas.

fastavro's ``schemaless_writer`` walks the schema for every value and, for each optional field,
validates the value against every branch of its union before writing it: 27-60 µs for one of
the story's events, two deliveries a referral. ``compile_writer`` walks the schema once and
generates straight-line Python appending to a ``bytearray`` (one function per record, a
varint of one byte in one statement), the mirror of ``hub.contracts.avro_reader``; logical
types go through fastavro's own converters (``fastavro.write.LOGICAL_WRITERS``), so a
timestamp or a date is the very number fastavro writes.

It is a shortcut, never a judge. It writes a value only when fastavro would accept it *and*
choose the same union branch, which it makes sure of by accepting less than fastavro does:
exact types (an ``int`` that is not a ``bool``, in the range fastavro's validator allows even
where its writer would wrap or convert), a ``list`` for an array, a ``dict`` for a record and
every field present (fastavro fills a missing one from its default: not here). A union is
written only as ``["null", X]``: ``None`` is the null branch, anything else must be an X
fastavro's validator accepts, so fastavro, which tries the branches in order, picks X too.
Anything else raises, whatever the exception, and the codec writes the record with fastavro,
whose bytes and errors stay the codec's (``Codec.encode_with``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast
from uuid import UUID

from fastavro.write import LOGICAL_WRITERS

from hub.contracts.avro_codegen import AVRO_NAME, SourceBuilder, indent, load

# A compiled writer: appends the Avro binary of a value to the bytearray.
Writer = Callable[[bytearray, Any], None]

# fastavro's validator's ranges (``fastavro.const``): a union's int branch accepts no more.
_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class UnwritableError(ValueError):
    """A schema this generator does not write (the codec writes its records with fastavro)."""


class UnsureError(ValueError):
    """A value the generated writer leaves to fastavro (which writes it or says what is wrong)."""


def varint(z: int) -> bytes:
    """A zig-zagged long (``z`` >= 0), 7 bits a byte, least significant first."""
    out = bytearray()
    while z > 0x7F:
        out.append(z & 0x7F | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _unsure(what: str) -> Any:
    raise UnsureError(what)


@lru_cache(maxsize=4096)
def _uuid_text(value: UUID) -> str:
    """``str(value)``, as fastavro's converter makes it, kept for the last 4,096: a case id is
    in every record of its case, and its text costs 0.7 µs (a ``UUID`` is immutable)."""
    return str(value)


_HELPERS: dict[str, Any] = {
    "_varint": varint,
    "_unsure": _unsure,
    "_uuid_text": _uuid_text,
    "_UUID": UUID,
    "_FLOAT": struct.Struct("<f").pack,
    "_DOUBLE": struct.Struct("<d").pack,
}


def _count(target: str) -> list[str]:
    """Append the varint of ``target`` >= 0 (a length, a count): one byte below 64."""
    return [
        f"if {target} < 64:",
        f"    o.append({target} << 1)",
        "else:",
        f"    o += _varint({target} << 1)",
    ]


class _Generator(SourceBuilder):
    """Python source writing one schema, built by walking it.

    Each value's code reads it from a local and appends its bytes to ``o``. A record is a
    function ``(o, x)``. Schema parts the code needs at run time (enum indexes, a logical type's
    schema and converter) go into ``K`` and are referred to by index: the only schema text in
    the source is field names, and only names of the Avro specification's form.
    """

    def value(self, schema: Any, x: str, *, branch: bool = False) -> list[str]:
        """The code writing the value in local ``x``; ``branch``: the value of a union, where
        fastavro reads a tuple as (branch name, value)."""
        if isinstance(schema, list):
            return self.union(schema, x)
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        kind = schema if isinstance(schema, str) else schema["type"]
        if not isinstance(kind, str):  # {"type": {...}}: a wrapped type
            return self.value(kind, x, branch=branch)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        prepare = LOGICAL_WRITERS.get(f"{kind}-{logical}") if logical else None
        lines: list[str] = []
        if prepare is not None and f"{kind}-{logical}" == "string-uuid":
            lines += [
                f"if type({x}) is _UUID:",
                f"    {x} = _uuid_text({x})",
                f"elif not isinstance({x}, str):",
                f"    {x} = {self.constant(prepare)}({x}, {self.constant(schema)})",
            ]
        elif prepare is not None:  # as fastavro: the converter, then the plain value
            call = f"{self.constant(prepare)}({x}, {self.constant(schema)})"
            lines += [f"if type({x}) is not int:", f"    {x} = {call}"]
        return lines + self.plain(schema, kind, x, branch)

    def plain(self, schema: Any, kind: str, x: str, branch: bool) -> list[str]:
        if kind == "null":
            return [f"if {x} is not None:", "    _unsure('null')"]
        if kind == "boolean":
            return [
                f"if {x} is True:",
                "    o.append(1)",
                f"elif {x} is False:",
                "    o.append(0)",
                "else:",
                "    _unsure('boolean')",
            ]
        if kind in _RANGES:
            low, high = _RANGES[kind]
            return [
                f"if type({x}) is not int or not {low} <= {x} <= {high}:",
                f"    _unsure({kind!r})",
                f"z = ({x} << 1) ^ ({x} >> 63)",
                "if z < 0x80:",
                "    o.append(z)",
                "else:",
                "    o += _varint(z)",
            ]
        if kind == "string":
            return [
                f"if not isinstance({x}, str):",
                "    _unsure('string')",
                f"e = {x}.encode()",
                "n = len(e)",
                *_count("n"),
                "o += e",
            ]
        if kind == "bytes":
            return [
                f"if type({x}) is not bytes and type({x}) is not bytearray:",
                "    _unsure('bytes')",
                f"n = len({x})",
                *_count("n"),
                f"o += {x}",
            ]
        if kind in ("float", "double"):
            pack = "_FLOAT" if kind == "float" else "_DOUBLE"
            return [f"if type({x}) is not float:", f"    _unsure({kind!r})", f"o += {pack}({x})"]
        if kind == "fixed":
            size = int(schema["size"])
            return [
                f"if type({x}) not in (bytes, bytearray) or len({x}) != {size}:",
                "    _unsure('fixed')",
                f"o += {x}",
            ]
        if kind == "enum":  # a symbol, or a StrEnum member equal to it: its index's bytes
            indexes = {s: varint(i << 1) for i, s in enumerate(schema["symbols"])}
            return [f"o += {self.constant(indexes)}[{x}]"]
        if kind in ("record", "error"):
            return [f"{self.record(schema)}(o, {x})"]
        if kind == "array":
            return self.array(schema, x, branch)
        if kind == "map":
            return self.map(schema, x)
        raise UnwritableError(f"unknown Avro type {kind!r}")

    def record(self, schema: Any) -> str:
        """The name of the function writing records of ``schema`` (generated once)."""
        name = schema["name"]
        if name not in self.records:
            function = f"_record_{len(self.records)}"
            self.records[name] = function  # named before its own references (recursion)
            # A dict, every field present; no "-type" key (fastavro's validator reads it as
            # the record's name when the record is a union's branch).
            lines = [
                "if type(x) is not dict or '-type' in x:",
                "    _unsure('record')",
            ]
            for field in schema["fields"]:
                if not AVRO_NAME.fullmatch(field["name"]):
                    raise UnwritableError(f"field name {field['name']!r} is not an Avro name")
                local = self.local()
                lines += [f"{local} = x[{field['name']!r}]", *self.value(field["type"], local)]
            self.sources.append("\n".join([f"def {function}(o, x):", *indent(lines)]))
        return self.records[name]

    def union(self, branches: list[Any], x: str) -> list[str]:
        if len(branches) != 2 or branches[0] != "null" or branches[1] == "null":
            raise UnwritableError(f"a union other than null|X: {branches!r}")
        return [
            f"if {x} is None:",
            "    o.append(0)",
            "else:",
            "    o.append(2)",
            *indent(self.value(branches[1], x, branch=True)),
        ]

    def array(self, schema: Any, x: str, branch: bool) -> list[str]:
        # fastavro writes list(x) for any iterable, but takes a tuple in a union for a branch
        # name and a value: a tuple is written only outside one.
        kinds = f"type({x}) is not list" + ("" if branch else f" and type({x}) is not tuple")
        item = self.local()
        return [
            f"if {kinds}:",
            "    _unsure('array')",
            f"if {x}:",
            f"    n = len({x})",
            *indent(_count("n")),
            f"    for {item} in {x}:",
            *indent(indent(self.value(schema["items"], item))),
            "o.append(0)",
        ]

    def map(self, schema: Any, x: str) -> list[str]:
        key, item = self.local(), self.local()
        return [
            f"if type({x}) is not dict:",
            "    _unsure('map')",
            f"if {x}:",
            f"    n = len({x})",
            *indent(_count("n")),
            f"    for {key}, {item} in {x}.items():",
            *indent(indent(self.plain("string", "string", key, False))),
            *indent(indent(self.value(schema["values"], item))),
            "o.append(0)",
        ]


def writer_source(parsed: Any) -> tuple[str, tuple[Any, ...]]:
    """The Python source of the writer of ``parsed``, and its constants ``K``."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    generator = _Generator(named)
    body = generator.value(parsed, "x")
    generator.sources.append("\n".join(["def write(o, x):", *indent(body or ["pass"])]))
    return "\n\n".join(generator.sources) + "\n", tuple(generator.constants)


def compile_writer(parsed: Any) -> Writer:
    """A writer of values of ``parsed`` (a schema from ``fastavro.parse_schema``): it appends
    a value's Avro binary to a bytearray, the bytes fastavro's ``schemaless_writer`` writes. It
    raises on a value it is not sure of (any exception: the codec then asks fastavro), having
    appended part of it. ``UnwritableError``: a schema it does not write."""
    source, constants = writer_source(parsed)
    return cast(Writer, load(source, constants, _HELPERS, name="write"))
