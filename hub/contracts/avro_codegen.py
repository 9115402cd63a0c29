"""What the generated Avro reader and writer share: building Python source from a schema and
loading it. ``hub.contracts.avro_reader`` and ``hub.contracts.avro_writer`` walk a schema with a
``SourceBuilder`` each; ``load`` turns the source into the function it defines.

The source holds the schema's structure only: field names, checked against the Avro
specification's name form (``AVRO_NAME``), appear as dict-key literals; everything else the code
needs at run time (enum symbols, a logical type's schema and converter) goes into the constants
``K`` and is referred to by index, so no schema text is ever code.
"""

from __future__ import annotations

import re
from typing import Any

AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""The Avro specification's names: the only schema text a generated source contains."""


class SourceBuilder:
    """The state of one walk of a schema: named types, constants, one function per record,
    numbered locals."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.constants: list[Any] = []
        self.records: dict[str, str] = {}  # record name → its function's name
        self.sources: list[str] = []
        self.locals = 0

    def local(self) -> str:
        """A new local variable's name."""
        self.locals += 1
        return f"v{self.locals}"

    def constant(self, value: Any) -> str:
        """The expression that reads ``value`` from the constants at run time."""
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"


def indent(lines: list[str]) -> list[str]:
    """``lines`` one block deeper."""
    return ["    " + line for line in lines]


def load(source: str, constants: tuple[Any, ...], helpers: dict[str, Any], *, name: str) -> Any:
    """The function ``name`` that ``source`` defines, run with ``helpers`` and ``K``
    (``constants``) as its globals."""
    namespace = {**helpers, "K": constants}
    # The source is built from the schema's structure only; its names are passed in ``K``.
    exec(compile(source, f"<avro {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]
