"""What every operator command prints the same way: JSON for scripts, full ids in tables,
ids given by a unique prefix, and times with their zone.

Commands of the hub and of its plugins (``agents/``, ``connectors/``) use these, so a listing
looks and behaves the same whichever group it belongs to:

- ``emit_json(document)``: plain JSON on stdout (no colour, no wrapping), UTF-8 kept;
- ``operator_listing(title, columns, rows, ids=..., width=...)``: a table when the ids fit
  whole on one line, else one block per row: an id is never cut, nor folded;
- ``resolve_id(text, candidates, kind)``: a whole UUID, or a prefix of at least
  ``MIN_PREFIX`` characters that names exactly one candidate; otherwise one line saying
  why and a non-zero exit;
- ``paris_time(instant)``: ``2026-12-06 10:30 CET``, the time national coordination works in,
  with its zone (JSON keeps UTC ISO 8601 instants);
- ``confirm(question, yes=...)``: a destructive command asks before it acts; ``--yes`` skips
  the question (scripts); without a terminal and without ``--yes`` it refuses in one line
  rather than act unasked.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hub.cli.context import BAD_INPUT, CHECK_FAILED, fail
from hub.rules.working_days import PARIS

MIN_PREFIX = 4
"""Hub policy: the shortest id prefix accepted. One or two characters would let a slip of
the finger re-drive or answer something else; four hex digits are one in 65,536."""

_HEX_PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]*$")


@dataclass(frozen=True)
class IdKind:
    """How an id is named to the operator: « dossier », « lettre morte », « demande »."""

    singular: str
    plural: str
    feminine: bool = False

    @property
    def none(self) -> str:
        return "aucune" if self.feminine else "aucun"


CASE = IdKind("dossier", "dossiers")
DEAD_LETTER = IdKind("lettre morte", "lettres mortes", feminine=True)
REQUEST = IdKind("demande", "demandes", feminine=True)


class IdNotFound(LookupError):
    """No candidate has the id or prefix."""


class AmbiguousId(LookupError):
    """Several candidates share the prefix."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


def parse_id(text: str, kind: IdKind) -> UUID | str:
    """A whole UUID, or the normalised prefix to look up; ``typer.Exit`` (exit 2) otherwise."""
    cleaned = text.strip().lower()
    try:
        return UUID(cleaned)
    except ValueError:
        pass
    if len(cleaned.replace("-", "")) < MIN_PREFIX or not _HEX_PREFIX.match(cleaned):
        raise fail(
            f"« {text} » n'est pas un identifiant de {kind.singular} : un UUID, ou son début "
            f"(au moins {MIN_PREFIX} caractères hexadécimaux)",
            BAD_INPUT,
        )
    return cleaned


def match_id(wanted: UUID | str, candidates: Iterable[UUID], kind: IdKind) -> UUID:
    """The one candidate ``wanted`` names (a UUID, or a prefix of its text form with or
    without dashes). Raises ``IdNotFound`` or ``AmbiguousId`` with an operator's message."""
    unique = set(candidates)
    if isinstance(wanted, UUID):
        if wanted in unique:
            return wanted
        raise IdNotFound(f"{kind.none} {kind.singular} {wanted}")
    compact = wanted.replace("-", "")
    found = sorted(
        (c for c in unique if str(c).startswith(wanted) or c.hex.startswith(compact)), key=str
    )
    if not found:
        raise IdNotFound(f"{kind.none} {kind.singular} ne commence par « {wanted} »")
    if len(found) > 1:
        raise AmbiguousId(
            f"« {wanted} » est ambigu : {len(found)} {kind.plural} commencent ainsi ; "
            "donnez plus de caractères",
            len(found),
        )
    return found[0]


def resolve_id(text: str, candidates: Iterable[UUID], kind: IdKind) -> UUID:
    """``parse_id`` then ``match_id``, for a command: one line and exit 2 (malformed,
    ambiguous) or 1 (nothing matches) instead of an exception."""
    wanted = parse_id(text, kind)
    try:
        return match_id(wanted, candidates, kind)
    except AmbiguousId as exc:
        raise fail(str(exc), BAD_INPUT) from None
    except IdNotFound as exc:
        raise fail(str(exc), CHECK_FAILED) from None


YES_HELP = "Ne pas demander de confirmation (scripts)."


YES_ANSWERS = frozenset({"o", "oui"})
"""What counts as yes to « [o/N] »; anything else, an empty line included, is no."""


def confirm(question: str, *, yes: bool) -> None:
    """Ask ``question`` (French, ending without « ? ») before a destructive step, « [o/N] »
    on stderr; return to go on, ``typer.Exit`` otherwise: exit 1 when the operator answers
    anything but « o » or « oui », exit 2 when there is no terminal to ask on and ``--yes``
    was not given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise fail(f"{question} : confirmez avec --yes (pas de terminal pour le demander)")
    sys.stderr.write(f"{question} ? [o/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if answer.strip().lower() not in YES_ANSWERS:
        raise fail("abandonné : rien n'a été modifié", CHECK_FAILED)


def emit_json(document: Any) -> None:
    """``document`` as indented JSON on stdout: plain text a script can parse (Rich would
    colour and wrap it), accents kept."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def paris_time(instant: datetime) -> str:
    """``instant`` in Europe/Paris with its zone: ``2026-12-06 10:30 CET``."""
    return f"{instant.astimezone(PARIS):%Y-%m-%d %H:%M %Z}"


ID_WIDTH = 36
"""A UUID in its text form."""
OTHER_COLUMN_WIDTH = 12
"""Room left for any other column when deciding whether ids fit on one line."""


def operator_listing(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    ids: Iterable[str] = (),
    width: int = 80,
) -> RenderableType:
    """Rows for operators, every id whole and on one line (easy to copy), nothing cut.

    A table when the ``ids`` columns fit whole in ``width`` (the console's) beside the
    others; on a narrower terminal, one block per row (``column  value`` lines), since a
    table would have to fold every id over several lines."""
    id_columns = set(ids)
    others = len(columns) - len(id_columns)
    room = len(id_columns) * (ID_WIDTH + 3) + others * (OTHER_COLUMN_WIDTH + 3) + 1
    listed = [list(row) for row in rows]
    if room <= width:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold", no_wrap=column in id_columns)
        for row in listed:
            table.add_row(*row)
        return table
    label = max(len(column) for column in columns)
    blocks: list[RenderableType] = [Text(title, style="bold")]
    for row in listed:
        block = Text(overflow="fold")
        for index, (column, value) in enumerate(zip(columns, row, strict=True)):
            if index:
                block.append("\n")
            block.append(f"{column:<{label}}  ", style="bold" if index == 0 else "dim")
            block.append(value, style="bold" if index == 0 else "")
        blocks += [Text(""), block]
    return Group(*blocks)
