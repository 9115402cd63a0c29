"""A reader of Avro binary generated per writer schema: fastavro's values at a fraction of the
CPU, for the codec's common case (a record written with the latest version of its subject).

fastavro's ``schemaless_reader`` reads a value at a time through a file object, ~0.8 µs a value
here: 16-40 µs for a story event, the largest cost of ingest once signatures are set apart.
``compile_reader`` walks the writer schema once and generates straight-line Python over the
bytes (records inlined field by field, a one-byte varint read in one statement), as
``hub.contracts.strict_avro`` does for its check; logical types go through fastavro's own
converters (``fastavro.read.LOGICAL_READERS``), so a uuid, a date or a timestamp is the very
value fastavro builds.

It is a shortcut, never a judge: it checks nothing beyond what it needs to read (a short value,
a bad index, a bad UTF-8 string make it raise, whatever the exception), and the codec trusts
its value only when the strict check then accepts the same bytes up to their last one
(``Codec.decode``). Anything else is read again by fastavro, whose errors and values stay the
codec's: a record this reader reads is one fastavro reads the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

from fastavro.read import LOGICAL_READERS

from hub.contracts.avro_codegen import AVRO_NAME, SourceBuilder, indent, load

# A compiled reader: the bytes and where the value starts, to the value and where it ends.
Reader = Callable[[bytes, int], tuple[Any, int]]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class UnreadableError(ValueError):
    """Bytes this reader does not read (fastavro then says what is wrong with them)."""


def _long(d: bytes, p: int) -> tuple[int, int]:
    """The zig-zag varint at ``p`` and the position after it."""
    n = 0
    shift = 0
    while True:
        b = d[p]
        p += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), p
        shift += 7
        if shift > 63:
            raise UnreadableError("varint longer than a long")


def _bytes(d: bytes, p: int) -> tuple[bytes, int]:
    """The bytes at ``p`` (a length, then as many bytes) and the position after them."""
    b = d[p]
    if b < 0x80:
        size, p = (b >> 1) ^ -(b & 1), p + 1
    else:
        size, p = _long(d, p)
    end = p + size
    if size < 0 or end > len(d):
        raise UnreadableError("length out of the bytes")
    return d[p:end], end


def _string(d: bytes, p: int) -> tuple[str, int]:
    value, end = _bytes(d, p)
    return value.decode(), end  # strict UTF-8: a bad string is read again by fastavro


def _boolean(d: bytes, p: int) -> tuple[bool, int]:
    b = d[p]
    if b > 1:
        raise UnreadableError("boolean byte")
    return b == 1, p + 1


def _unexpected(what: str) -> Any:
    raise UnreadableError(what)


def _block_count(d: bytes, p: int) -> tuple[int, int]:
    """The item count of an array or map block (its byte size skipped when given)."""
    count, p = _long(d, p)
    if count < 0:
        count = -count
        _size, p = _long(d, p)
    return count, p


@lru_cache(maxsize=4096)
def _uuid(text: str) -> Any:
    """fastavro's uuid of ``text`` (its converter reads no schema), kept for the last 4,096:
    a case id comes back in every record of its case, twice in most (case and correlation),
    and parsing one costs 1.3 µs. A UUID is immutable: sharing one changes nothing."""
    return LOGICAL_READERS["string-uuid"](text, None, None)


_HELPERS: dict[str, Any] = {
    "_long": _long,
    "_bytes": _bytes,
    "_string": _string,
    "_boolean": _boolean,
    "_unexpected": _unexpected,
    "_block_count": _block_count,
    "_uuid": _uuid,
    "_FLOAT": _FLOAT.unpack_from,
    "_DOUBLE": _DOUBLE.unpack_from,
}


class _Generator(SourceBuilder):
    """Python source reading one writer schema, built by walking it.

    Every value's code assigns it to a local and moves ``p`` (the position in ``d``, the
    bytes) past it. A record is a function returning a dict in field order, as fastavro's.
    Schema parts the code needs at run time (enum symbols, a logical type's schema and
    converter) go into ``K`` and are referred to by index: the only schema text in the source
    is field names, and only names of the Avro specification's form (a dict key's literal).
    """

    def value(self, schema: Any, target: str) -> list[str]:
        """The code that reads one value of ``schema`` into ``target``."""
        if isinstance(schema, list):
            return self.union(schema, target)
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            schema = self.named[schema]
        kind = schema if isinstance(schema, str) else schema["type"]
        if not isinstance(kind, str):  # {"type": {...}}: a wrapped type
            return self.value(kind, target)
        lines = self.plain(schema, kind, target)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        convert = LOGICAL_READERS.get(f"{kind}-{logical}") if logical else None
        if convert is not None and f"{kind}-{logical}" == "string-uuid":
            lines.append(f"{target} = _uuid({target})")
        elif convert is not None:  # as fastavro: the plain value, then its converter
            call = f"{self.constant(convert)}({target}, {self.constant(schema)}, None)"
            lines.append(f"{target} = {call}")
        return lines

    def plain(self, schema: Any, kind: str, target: str) -> list[str]:
        if kind == "null":
            return [f"{target} = None"]
        if kind == "boolean":
            return [f"{target}, p = _boolean(d, p)"]
        if kind in ("int", "long"):
            return [
                "b = d[p]",
                "if b < 0x80:",
                f"    {target} = (b >> 1) ^ -(b & 1)",
                "    p += 1",
                "else:",
                f"    {target}, p = _long(d, p)",
            ]
        if kind == "string":  # a length of one byte inline: most strings are < 64 bytes
            return [
                "b = d[p]",
                "if b < 0x80 and not b & 1 and (e := p + 1 + (b >> 1)) <= len(d):",
                f"    {target} = d[p + 1:e].decode()",
                "    p = e",
                "else:",
                f"    {target}, p = _string(d, p)",
            ]
        if kind == "bytes":
            return [f"{target}, p = _bytes(d, p)"]
        if kind in ("float", "double"):
            unpack, width = ("_FLOAT", 4) if kind == "float" else ("_DOUBLE", 8)
            return [f"({target},) = {unpack}(d, p)", f"p += {width}"]
        if kind == "fixed":
            size = int(schema["size"])
            return [
                f"if p + {size} > len(d):",
                "    _unexpected('fixed')",
                f"{target} = d[p:p + {size}]",
                f"p += {size}",
            ]
        if kind == "enum":
            symbols = self.constant(tuple(schema["symbols"]))
            index = self.local()
            return [
                *self.value("int", index),
                f"if not 0 <= {index} < {len(schema['symbols'])}:",
                "    _unexpected('enum index')",
                f"{target} = {symbols}[{index}]",
            ]
        if kind in ("record", "error"):
            return [f"{target}, p = {self.record(schema)}(d, p)"]
        if kind in ("array", "map"):
            return self.blocks(schema, kind, target)
        raise UnreadableError(f"unknown Avro type {kind!r}")

    def record(self, schema: Any) -> str:
        """The name of the function reading records of ``schema`` (generated once)."""
        name = schema["name"]
        if name not in self.records:
            function = f"_record_{len(self.records)}"
            self.records[name] = function  # named before its own references (recursion)
            lines: list[str] = []
            items = []
            for field in schema["fields"]:
                if not AVRO_NAME.fullmatch(field["name"]):
                    raise UnreadableError(f"field name {field['name']!r} is not an Avro name")
                local = self.local()
                lines += self.value(field["type"], local)
                items.append(f"{field['name']!r}: {local}")
            body = [*lines, f"return {{{', '.join(items)}}}, p"]
            self.sources.append("\n".join([f"def {function}(d, p):", *indent(body)]))
        return self.records[name]

    def union(self, branches: list[Any], target: str) -> list[str]:
        if len(branches) == 2 and branches[0] == "null":  # optional: a one-byte index, 0 or 1
            return [
                "if not (b := d[p]):",
                f"    {target} = None",
                "    p += 1",
                "elif b == 2:",
                "    p += 1",
                *indent(self.value(branches[1], target)),
                "else:",  # an index written in more bytes, or a bad one
                f"    {target}, p = {self.function(branches)}(d, p)",
            ]
        return self.indexed(branches, target)

    def indexed(self, branches: list[Any], target: str) -> list[str]:
        """A union's index, then the value of its branch."""
        index = self.local()
        lines = [*self.value("long", index)]
        keyword = "if"
        for position, branch in enumerate(branches):
            lines += [f"{keyword} {index} == {position}:", *indent(self.value(branch, target))]
            keyword = "elif"
        return [*lines, "else:", "    _unexpected('union index')"]

    def function(self, branches: list[Any]) -> str:
        """A function reading a union the general way (the rare path of an optional field)."""
        name = f"_union_{self.local()}"
        body = [*self.indexed(branches, "value"), "return value, p"]
        self.sources.append("\n".join([f"def {name}(d, p):", *indent(body)]))
        return name

    def blocks(self, schema: Any, kind: str, target: str) -> list[str]:
        """Blocks of items until a count of 0: a list, or a dict for a map."""
        item, key, count = self.local(), self.local(), self.local()
        if kind == "map":
            read = [*self.value("string", key), *self.value(schema["values"], item)]
            store = f"{target}[{key}] = {item}"
        else:
            read = self.value(schema["items"], item)
            store = f"{target}.append({item})"
        return [
            f"{target} = {{}}" if kind == "map" else f"{target} = []",
            "while True:",  # a count of one byte inline: most blocks have < 64 items
            "    b = d[p]",
            "    if b < 0x80 and not b & 1:",
            f"        {count} = b >> 1",
            "        p += 1",
            "    else:",
            f"        {count}, p = _block_count(d, p)",
            f"    if not {count}:",
            "        break",
            f"    for _ in range({count}):",
            *indent(indent([*read, store])),
        ]


def reader_source(parsed: Any) -> tuple[str, tuple[Any, ...]]:
    """The Python source of the reader of ``parsed``, and its constants ``K``."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    generator = _Generator(named)
    body = [*generator.value(parsed, "value"), "return value, p"]
    generator.sources.append("\n".join(["def read(d, p):", *indent(body)]))
    return "\n\n".join(generator.sources) + "\n", tuple(generator.constants)


def compile_reader(parsed: Any) -> Reader:
    """A reader of values of ``parsed`` (a schema from ``fastavro.parse_schema``): it takes
    the bytes and the position where the value starts, and returns the value and the position
    after it. It raises on bytes it cannot read (any exception: the codec then asks fastavro)."""
    source, constants = reader_source(parsed)
    return cast(Reader, load(source, constants, _HELPERS, name="read"))
