"""The one Avro codec: Confluent wire framing over fastavro.

A framed record is ``0x00 | schema id (4 bytes, big-endian) | Avro binary``, readable by any
Kafka client with a schema registry. Decoding never raises anything but ``CodecError``, whose
``reason`` is the machine reason a dead letter carries.

fastavro's fast reader takes a negative enum or union index for a symbol or branch counted from
the end, and any non-zero boolean byte for true; so every body it reads is also checked against
the writer schema by ``hub.contracts.strict_avro``, and one that breaks the Avro layout is a
CORRUPT_FRAME (defect 1 in docs/RELIABILITY.md).

A record written with the latest version of its subject is read by a reader generated for its
schema (``hub.contracts.avro_reader``: two thirds of fastavro's CPU on the story's events),
trusted only when the strict check accepts the same bytes; anything else, a bad record among
them, is read again by fastavro, whose values and errors stay the codec's.

A record of a registered schema is written by a writer generated for its schema
(``hub.contracts.avro_writer``: fastavro's bytes for a fraction of its CPU) when that writer is
sure of it; anything else, a bad record among them, is written by fastavro, whose bytes and
errors stay the codec's.

Audit entries, a dozen per referral, are written by ``hub.contracts.audit_entry_avro`` instead
of fastavro: the same bytes, the same errors and size limit, a fraction of the CPU. A later
AuditEntry schema with fields that writer does not know is written by fastavro, as any event.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from pydantic import BaseModel, ValidationError

from hub.contracts.audit_entry_avro import AuditEntryWriter, UnexpectedSchemaError
from hub.contracts.avro_reader import Reader, UnreadableError, compile_reader
from hub.contracts.avro_writer import UnwritableError, Writer, compile_writer
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import EVENT_MODELS, subject_of
from hub.contracts.hub_records import AuditEntry
from hub.contracts.registry import RegisteredSchema, SchemaRegistry, UnknownSchemaError
from hub.contracts.strict_avro import AvroLayoutError, Check, compile_check

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size

# What fastavro raises on bytes that are not a valid encoding of the writer schema.
_READ_ERRORS = (
    EOFError,
    StopIteration,
    IndexError,
    KeyError,
    ValueError,
    OverflowError,
    UnicodeDecodeError,
    struct.error,
    MemoryError,
    TypeError,
)
# What fastavro raises on a datum that does not fit the schema.
_WRITE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, OverflowError, struct.error)


class CodecError(Exception):
    """A record that cannot be encoded or decoded, with a machine reason and a human detail."""

    def __init__(self, reason: DeadLetterReason, detail: str, schema_id: int | None = None):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.schema_id = schema_id


def _does_not_fit(schema: RegisteredSchema, exc: Exception) -> CodecError:
    return CodecError(
        DeadLetterReason.SCHEMA_VIOLATION,
        f"record does not fit {schema.subject} v{schema.version}: {exc}",
        schema.schema_id,
    )


@dataclass(frozen=True)
class Decoded:
    """A decoded record: which schema wrote it, its subject, and its fields."""

    schema_id: int
    subject: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Reading:
    """How to read one writer schema id, worked out on its first record: the writer, the parsed
    reader schema (None when the writer is the latest version), the strict layout check and the
    generated reader."""

    writer: RegisteredSchema
    reader: Any
    check: Check
    fast: Reader | None
    """The generated reader (``hub.contracts.avro_reader``) when the writer is the latest
    version; None: fastavro reads every record (a schema to resolve, or one it cannot read)."""


def frame_header(data: bytes) -> int:
    """The schema id in a Confluent frame; CodecError if the frame is malformed."""
    if len(data) < HEADER_SIZE:
        raise CodecError(
            DeadLetterReason.CORRUPT_FRAME, f"{len(data)} bytes is shorter than a frame header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise CodecError(
            DeadLetterReason.CORRUPT_FRAME, f"first byte is {magic:#04x}, not the magic byte 0x00"
        )
    return int(schema_id)


def _fast_writer(schema: RegisteredSchema) -> Writer | None:
    """The generated writer of ``schema``'s records, None for a schema it does not write
    (or whose generated code Python refuses, e.g. more nested blocks than it compiles):
    fastavro writes those, as it did before the shortcut."""
    try:
        return compile_writer(schema.parsed)
    except (UnwritableError, SyntaxError, RecursionError, MemoryError):
        return None


def _fast_reader(writer: RegisteredSchema) -> Reader | None:
    """The generated reader of ``writer``'s records, None for a schema it cannot read (or
    whose generated code Python refuses): fastavro reads those."""
    try:
        return compile_reader(writer.parsed)
    except (UnreadableError, SyntaxError, RecursionError, MemoryError):
        return None


class Codec:
    """Encodes records under the latest version of a subject; decodes any registered id."""

    def __init__(self, registry: SchemaRegistry, *, max_record_bytes: int = 512 * 1024) -> None:
        self.registry = registry
        self.max_record_bytes = max_record_bytes
        self._readings: dict[int, _Reading] = {}
        # Per schema id: the schema the writer was generated for, and the writer.
        self._writers: dict[int, tuple[RegisteredSchema, Writer | None]] = {}
        self._audit_writer: tuple[RegisteredSchema, AuditEntryWriter | None] | None = None

    def encode(self, subject: str, record: Mapping[str, Any]) -> bytes:
        """Frame ``record`` with the latest schema of ``subject``."""
        try:
            schema = self.registry.latest(subject)
        except UnknownSchemaError as exc:
            raise CodecError(DeadLetterReason.UNKNOWN_SCHEMA_ID, str(exc)) from None
        return self.encode_with(schema, record)

    def encode_with(self, schema: RegisteredSchema, record: Mapping[str, Any]) -> bytes:
        """Frame ``record`` with one given registered schema."""
        header = _HEADER.pack(MAGIC_BYTE, schema.schema_id)
        known = self._writers.get(schema.schema_id)
        if known is None or known[0] is not schema:
            known = self._writers[schema.schema_id] = (schema, _fast_writer(schema))
        if known[1] is not None:
            framed = bytearray(header)
            try:
                known[1](framed, record)
            except Exception:  # noqa: S110  # fastavro below writes it, or says what is wrong
                pass
            else:
                return self._within_limit(schema, bytes(framed))
        out = BytesIO()
        out.write(header)
        try:
            schemaless_writer(out, schema.parsed, record)
        except _WRITE_ERRORS as exc:
            raise _does_not_fit(schema, exc) from None
        return self._within_limit(schema, out.getvalue())

    def _encode_audit_entry(self, entry: AuditEntry) -> bytes:
        """Frame ``entry`` under the latest AuditEntry schema, written by its own writer; by
        the generic path when that schema has fields the writer does not write (a later
        version: encoded as any event is, never refused for being new)."""
        if self._audit_writer is None:
            try:
                schema = self.registry.latest(subject_of(AuditEntry))
            except UnknownSchemaError as exc:
                raise CodecError(DeadLetterReason.UNKNOWN_SCHEMA_ID, str(exc)) from None
            try:
                self._audit_writer = (schema, AuditEntryWriter(schema.parsed))
            except UnexpectedSchemaError:
                self._audit_writer = (schema, None)
        schema, writer = self._audit_writer
        if writer is None:
            return self.encode_with(schema, entry.model_dump())
        try:
            body = writer.write(entry)
        except _WRITE_ERRORS as exc:
            raise _does_not_fit(schema, exc) from None
        return self._within_limit(schema, _HEADER.pack(MAGIC_BYTE, schema.schema_id) + body)

    def _within_limit(self, schema: RegisteredSchema, data: bytes) -> bytes:
        if len(data) > self.max_record_bytes:
            raise CodecError(
                DeadLetterReason.OVERSIZE,
                f"{len(data)} bytes exceeds the {self.max_record_bytes}-byte limit",
                schema.schema_id,
            )
        return data

    def decode(self, data: bytes) -> Decoded:
        """Decode a framed record into the latest version of its subject."""
        if len(data) > self.max_record_bytes:
            raise CodecError(
                DeadLetterReason.OVERSIZE,
                f"{len(data)} bytes exceeds the {self.max_record_bytes}-byte limit",
            )
        schema_id = frame_header(data)
        reading = self._readings.get(schema_id) or self._reading(schema_id)
        writer = reading.writer
        # bytes only: a bytearray's slices would come back as bytearrays, fastavro's as bytes.
        if reading.fast is not None and type(data) is bytes:
            try:
                record, end = reading.fast(data, HEADER_SIZE)
                # Its value is fastavro's when the strict check reads the same bytes to the
                # same last byte; anything else is read again below, errors and all.
                if (
                    end == len(data)
                    and reading.check(data, HEADER_SIZE) == end
                    and isinstance(record, dict)
                ):
                    return Decoded(schema_id, writer.subject, record)
            except Exception:  # noqa: S110  # the reading below says what is wrong
                pass
        body = BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(body, writer.parsed, reading.reader)
        except _READ_ERRORS as exc:
            raise CodecError(
                DeadLetterReason.CORRUPT_FRAME,
                f"bytes are not a valid {writer.subject} v{writer.version}: "
                f"{type(exc).__name__}: {exc}",
                schema_id,
            ) from None
        trailing = len(data) - body.tell()
        if trailing:
            raise CodecError(
                DeadLetterReason.CORRUPT_FRAME,
                f"{trailing} trailing bytes after a {writer.subject} record",
                schema_id,
            )
        try:
            # What fastavro read leniently (a negative index, a boolean 0x02) is refused here;
            # both read the same bytes the same way up to there, so both end at the last byte.
            if reading.check(data, HEADER_SIZE) != len(data):
                raise AvroLayoutError("the strict reading ends before the last byte")
        except AvroLayoutError as exc:
            raise CodecError(
                DeadLetterReason.CORRUPT_FRAME,
                f"bytes are not a valid {writer.subject} v{writer.version}: {exc}",
                schema_id,
            ) from None
        if not isinstance(record, dict):
            raise CodecError(
                DeadLetterReason.SCHEMA_VIOLATION, "top-level value is not a record", schema_id
            )
        return Decoded(schema_id, writer.subject, record)  # positional: 30% faster

    def _reading(self, schema_id: int) -> _Reading:
        """How to read ``schema_id``, kept for its next records (the registry never changes)."""
        try:
            writer = self.registry.by_id(schema_id)
        except UnknownSchemaError as exc:
            raise CodecError(DeadLetterReason.UNKNOWN_SCHEMA_ID, str(exc), schema_id) from None
        reader = self.registry.latest(writer.subject)
        latest = reader is writer
        reading = _Reading(
            writer,
            None if latest else reader.parsed,
            compile_check(writer.parsed),
            _fast_reader(writer) if latest else None,
        )
        self._readings[schema_id] = reading
        return reading

    def encode_event(self, event: BaseModel) -> bytes:
        """Frame a typed event under the latest version of its subject."""
        if type(event) is AuditEntry:
            return self._encode_audit_entry(event)
        return self.encode(subject_of(type(event)), event.model_dump())

    def decode_event(self, data: bytes) -> BaseModel:
        """Decode a framed record into its typed event model.

        A record that decodes but breaks the model's rules (e.g. a naive timestamp) is a
        SCHEMA_VIOLATION; a subject with no event model is an UNKNOWN_SCHEMA_ID for callers
        that expect events.
        """
        decoded = self.decode(data)
        model = EVENT_MODELS.get(decoded.subject)
        if model is None:
            raise CodecError(
                DeadLetterReason.UNKNOWN_SCHEMA_ID,
                f"schema {decoded.schema_id} ({decoded.subject}) is not an event type",
                decoded.schema_id,
            )
        try:
            return model.model_validate(decoded.record)
        except ValidationError as exc:
            raise CodecError(
                DeadLetterReason.SCHEMA_VIOLATION,
                f"{decoded.subject}: {exc.error_count()} invalid field(s): "
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                decoded.schema_id,
            ) from None
