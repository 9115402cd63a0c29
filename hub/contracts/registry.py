"""The schema registry built from ``schemas/``: stable ids, versions, and evolution.

``schemas/avro/`` holds the authored Avro types, one named type per file
(``fr.nrm.Name.avsc``), referencing each other by full name. ``schemas/registry.json``
assigns every registered (subject, version) a schema id, and ``schemas/registered/ID.avsc``
freezes the self-contained (expanded) schema that id stands for. Ids are committed, so they
are the same in every process, after every restart and on every machine. Subjects follow
Confluent's RecordNameStrategy: the subject is the record's full name, because one agency
outbox carries several event types.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import load_schema, to_parsing_canonical_form

from hub.contracts.compatibility import Incompatibility, backward_incompatibilities

MANIFEST = "registry.json"
SOURCES = "avro"
FROZEN = "registered"
COMPATIBILITY_LEVEL = "BACKWARD_TRANSITIVE"


class UnknownSchemaError(LookupError):
    """No schema with this id or subject is registered."""


def normalized(schema: Any) -> str:
    """A stable JSON text for comparing schemas, keeping docs, defaults and categories."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def expand_source(sources_dir: Path, subject: str) -> dict[str, Any]:
    """The self-contained schema of ``subject``, with every referenced type inlined."""
    path = sources_dir / f"{subject}.avsc"
    if not path.is_file():
        raise UnknownSchemaError(f"no source file {path.name} for subject {subject}")
    expanded = load_schema(str(path), _write_hint=False)
    if not isinstance(expanded, dict):
        raise UnknownSchemaError(f"{path.name} is not a named record schema")
    return expanded


@dataclass(frozen=True)
class RegisteredSchema:
    """One registered version of a subject."""

    schema_id: int
    subject: str
    version: int
    schema: dict[str, Any]
    parsed: Any = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        """The schema as the JSON string the Confluent REST API serves."""
        return json.dumps(self.schema, separators=(",", ":"))


@dataclass(frozen=True)
class PendingChange:
    """A subject whose source differs from its latest registered version."""

    subject: str
    schema: dict[str, Any]
    next_version: int
    incompatibilities: tuple[Incompatibility, ...]

    @property
    def compatible(self) -> bool:
        """True when the change keeps BACKWARD_TRANSITIVE compatibility."""
        return not self.incompatibilities


class SchemaRegistry:
    """Registered schemas by id and by subject, loaded from a ``schemas/`` directory."""

    def __init__(self, schemas: list[RegisteredSchema], root: Path | None = None) -> None:
        self.root = root
        self._by_id = {s.schema_id: s for s in schemas}
        self._versions: dict[str, list[RegisteredSchema]] = {}
        for registered in sorted(schemas, key=lambda s: (s.subject, s.version)):
            self._versions.setdefault(registered.subject, []).append(registered)
        self._by_text = {normalized(s.schema): s for s in schemas}
        self._by_canonical = {(s.subject, to_parsing_canonical_form(s.parsed)): s for s in schemas}

    @classmethod
    def load(cls, root: Path) -> SchemaRegistry:
        """Read the manifest and the frozen schemas under ``root`` (``schemas/``)."""
        manifest = _read_manifest(root)
        schemas = []
        for subject, versions in manifest["subjects"].items():
            for entry in versions:
                schema_id = int(entry["id"])
                schema = json.loads((root / FROZEN / f"{schema_id}.avsc").read_text())
                schemas.append(
                    RegisteredSchema(
                        schema_id=schema_id,
                        subject=subject,
                        version=int(entry["version"]),
                        schema=schema,
                        parsed=fastavro.parse_schema(schema),
                    )
                )
        return cls(schemas, root)

    def by_id(self, schema_id: int) -> RegisteredSchema:
        """The schema registered under ``schema_id``."""
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchemaError(f"schema id {schema_id} is not registered") from None

    def latest(self, subject: str) -> RegisteredSchema:
        """The newest version of ``subject``."""
        return self.versions(subject)[-1]

    def versions(self, subject: str) -> list[RegisteredSchema]:
        """Every registered version of ``subject``, oldest first."""
        try:
            return self._versions[subject]
        except KeyError:
            raise UnknownSchemaError(f"subject {subject} is not registered") from None

    def subjects(self) -> list[str]:
        """Registered subjects, sorted."""
        return sorted(self._versions)

    def __iter__(self) -> Iterator[RegisteredSchema]:
        return iter(sorted(self._by_id.values(), key=lambda s: s.schema_id))

    def find(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema | None:
        """The registered version of ``subject`` equal to ``schema``, if any.

        Equal means the same normalized JSON, or failing that the same Avro parsing
        canonical form (what stock serializers compare).
        """
        found = self._by_text.get(normalized(schema))
        if found is not None and found.subject == subject:
            return found
        canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
        return self._by_canonical.get((subject, canonical))

    def incompatibilities(self, subject: str, schema: dict[str, Any]) -> list[Incompatibility]:
        """Why ``schema`` would break BACKWARD_TRANSITIVE for ``subject`` (empty: it would not)."""
        if subject not in self._versions:
            return []
        earlier = [(s.version, s.schema) for s in self._versions[subject]]
        return backward_incompatibilities(schema, earlier)

    def pending_changes(self, subjects: list[str] | None = None) -> list[PendingChange]:
        """Sources under ``schemas/avro`` that differ from their latest registered version."""
        if self.root is None:
            return []
        changes = []
        for subject in subjects if subjects is not None else self.subjects():
            source = expand_source(self.root / SOURCES, subject)
            known = self._versions.get(subject)
            if known and normalized(known[-1].schema) == normalized(source):
                continue
            changes.append(
                PendingChange(
                    subject=subject,
                    schema=source,
                    next_version=len(known) + 1 if known else 1,
                    incompatibilities=tuple(self.incompatibilities(subject, source)),
                )
            )
        return changes


def register(root: Path, changes: list[PendingChange]) -> list[RegisteredSchema]:
    """Freeze compatible changes under new ids and write the manifest.

    Refuses (ValueError) if any change is incompatible: nothing is written then. With no
    change nothing is written either, and the manifest is replaced atomically: a worker or a
    CLI reading the registry while an operator registers sees the old manifest or the new one,
    never a half-written file.
    """
    refused = [c for c in changes if not c.compatible]
    if refused:
        raise ValueError(
            "incompatible: "
            + "; ".join(
                f"{c.subject}: {i.describe()}" for c in refused for i in c.incompatibilities
            )
        )
    if not changes:
        return []
    manifest = _read_manifest(root)
    next_id = 1 + max(
        (int(e["id"]) for versions in manifest["subjects"].values() for e in versions),
        default=0,
    )
    created = []
    (root / FROZEN).mkdir(parents=True, exist_ok=True)
    for change in changes:
        _replace(root / FROZEN / f"{next_id}.avsc", json.dumps(change.schema, indent=2) + "\n")
        manifest["subjects"].setdefault(change.subject, []).append(
            {"version": change.next_version, "id": next_id}
        )
        created.append(
            RegisteredSchema(
                schema_id=next_id,
                subject=change.subject,
                version=change.next_version,
                schema=change.schema,
                parsed=fastavro.parse_schema(change.schema),
            )
        )
        next_id += 1
    _replace(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return created


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        return {"compatibility": COMPATIBILITY_LEVEL, "subjects": {}}
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest
