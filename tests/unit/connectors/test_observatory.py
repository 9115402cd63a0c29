"""Observatory export: small-cell suppression leaves nothing under the threshold and nothing
recoverable by subtracting from a row or column total."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

from flow_helpers import events_for
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.observatory import (
    TOTAL,
    build,
    lines,
    records,
    suppress,
    write_csv,
)
from hub.contracts.events import IdentificationDecision, ReferralOpened

ROWS = st.sampled_from(["A", "B", "C", "D", "E"])
COLS = st.sampled_from(["IDENTIFIED", "NOT_IDENTIFIED", "PENDING", "TRANSFERRED"])
TABLES = st.dictionaries(st.tuples(ROWS, COLS), st.integers(0, 40), min_size=1, max_size=20)


@settings(max_examples=400, deadline=None)
@given(TABLES, st.integers(1, 10))
def test_no_published_cell_under_the_threshold(table: dict[tuple[str, str], int], k: int) -> None:
    _rows, _cols, cells = suppress(table, k)
    assert all(n is None or n >= k for n in cells.values())


@settings(max_examples=400, deadline=None)
@given(TABLES, st.integers(1, 10))
def test_no_suppressed_cell_recoverable_from_a_total(
    table: dict[tuple[str, str], int], k: int
) -> None:
    rows, cols, cells = suppress(table, k)
    for line in lines(rows, cols):
        hidden = [cell for cell in line if cells[cell] is None]
        # one hidden entry in a row or column: total minus the others would give it away
        assert len(hidden) != 1, (line, hidden)


@settings(max_examples=200, deadline=None)
@given(TABLES, st.integers(1, 10))
def test_published_values_are_the_true_counts(table: dict[tuple[str, str], int], k: int) -> None:
    _rows, _cols, cells = suppress(table, k)
    for (r, c), n in cells.items():
        if n is None:
            continue
        if r == TOTAL and c == TOTAL:
            assert n == sum(table.values())
        elif r == TOTAL:
            assert n == sum(v for (_, cc), v in table.items() if cc == c)
        elif c == TOTAL:
            assert n == sum(v for (rr, _), v in table.items() if rr == r)
        else:
            assert n == table.get((r, c), 0)


def test_a_lone_small_cell_takes_a_partner_with_it() -> None:
    _rows, _cols, cells = suppress({("A", "X"): 2, ("B", "X"): 30, ("C", "X"): 40}, 5)
    assert cells[("A", "X")] is None
    assert cells[("B", "X")] is None  # the smallest other cell of the column
    assert cells[("C", "X")] == 40


def test_export_from_case_events_writes_csv_without_identifiers(tmp_path: Path) -> None:
    events = []
    for _ in range(7):
        story = events_for(uuid.uuid4())
        events += [story[ReferralOpened], story[IdentificationDecision]]
    tables = build(events, lambda d: "IDF" if d == "93" else None)
    rows = records(tables, "2026-11", 5)
    path = tmp_path / "observatory.csv"
    write_csv(rows, path)
    with path.open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert written
    region = [r for r in written if r["table"] == "region" and r["value"] == "IDF"]
    assert any(r["count"] == "7" for r in region)
    text = path.read_text(encoding="utf-8")
    assert "Amina" not in text
    assert "Diallo" not in text
    assert all(r["count"] == "" or int(r["count"]) >= 5 for r in written)
