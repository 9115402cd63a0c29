"""Schema evolution checks, delegated to the Avro project's own checker.

The hub promises BACKWARD_TRANSITIVE: a reader using the newest version of a subject decodes
records written with every earlier version. The rules are Avro's
(``avro.compatibility.ReaderWriterCompatibilityChecker``), not re-implemented here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


@dataclass(frozen=True)
class Incompatibility:
    """Why the new schema cannot read data written with one earlier version."""

    against_version: int
    kinds: tuple[str, ...]
    locations: tuple[str, ...]
    messages: tuple[str, ...]

    def describe(self) -> str:
        """One human line: what breaks, where, against which version."""
        where = ", ".join(self.locations) or "/"
        what = ", ".join(self.kinds)
        detail = "; ".join(self.messages)
        return f"cannot read version {self.against_version} at {where}: {what} ({detail})"


def backward_incompatibilities(
    new_schema: Mapping[str, Any], earlier: Sequence[tuple[int, Mapping[str, Any]]]
) -> list[Incompatibility]:
    """Every earlier (version, schema) whose records ``new_schema`` cannot read."""
    reader = avro.schema.parse(json.dumps(new_schema))
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro's own
    problems: list[Incompatibility] = []
    for version, old_schema in earlier:
        writer = avro.schema.parse(json.dumps(old_schema))
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            problems.append(
                Incompatibility(
                    against_version=version,
                    kinds=tuple(sorted(str(kind.value) for kind in result.incompatibilities)),
                    locations=tuple(sorted(str(loc) for loc in result.locations)),
                    messages=tuple(sorted(str(msg) for msg in result.messages)),
                )
            )
    return problems
