"""Small-cell suppression: what an anonymised table may publish (CNCDH Rec. 7).

Every cell *and total* under the threshold (default 5, zeros included) is suppressed, then
secondary suppression runs until no row or column of the table (its total included) has
exactly one suppressed entry, so no suppressed cell can be recovered by subtracting the
published cells of its row or column from the published total. The observatory export
(``connectors/observatory.py``) and the coordination committee's monitoring
(``hub/rules/monitoring.py``) publish through this one rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5
TOTAL = "TOTAL"

Cell = tuple[str, str]
Table = dict[Cell, int]


@dataclass(frozen=True)
class PublishedTable:
    """A suppressed two-way table: ``None`` marks a suppressed cell."""

    name: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: dict[Cell, int | None]


def with_totals(table: Mapping[Cell, int]) -> tuple[tuple[str, ...], tuple[str, ...], Table]:
    """The table's rows and columns (each ending with TOTAL) and every cell, totals included
    (absent cells are 0)."""
    rows = tuple(sorted({r for r, _ in table}))
    cols = tuple(sorted({c for _, c in table}))
    full: Table = {(r, c): table.get((r, c), 0) for r in rows for c in cols}
    for r in rows:
        full[(r, TOTAL)] = sum(full[(r, c)] for c in cols)
    for c in (*cols, TOTAL):
        full[(TOTAL, c)] = sum(full[(r, c)] for r in rows)
    return (*rows, TOTAL), (*cols, TOTAL), full


def lines(rows: tuple[str, ...], cols: tuple[str, ...]) -> list[list[Cell]]:
    """Every row and every column of an augmented table (each ends with its total)."""
    return [[(r, c) for c in cols] for r in rows] + [[(r, c) for r in rows] for c in cols]


def suppress(
    table: Mapping[Cell, int], threshold: int = DEFAULT_THRESHOLD
) -> tuple[tuple[str, ...], tuple[str, ...], dict[Cell, int | None]]:
    """Primary suppression (every cell or total under ``threshold``), then secondary
    suppression until no row or column has exactly one suppressed entry: the smallest other
    entry of that line is suppressed too (cells before totals, then by name for stability)."""
    rows, cols, full = with_totals(table)
    hidden = {cell for cell, n in full.items() if n < threshold}
    changed = True
    while changed:
        changed = False
        for line in lines(rows, cols):
            if sum(cell in hidden for cell in line) != 1:
                continue
            shown = [cell for cell in line if cell not in hidden]
            pick = min(shown, key=lambda cell: (TOTAL in cell, full[cell], cell))
            hidden.add(pick)
            changed = True
    return rows, cols, {cell: None if cell in hidden else n for cell, n in full.items()}


def shown(count: int, threshold: int = DEFAULT_THRESHOLD) -> int | None:
    """A lone count (not part of a table) as published: None under the threshold."""
    return count if count >= threshold else None
