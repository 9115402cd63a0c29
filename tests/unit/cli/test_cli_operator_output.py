"""The shared operator output: unique id prefixes, full ids at 80 columns, Paris time with
its zone, JSON a script can parse."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from uuid import UUID

import pytest
import typer
from rich.console import Console

from hub.cli.operator_output import (
    CASE,
    DEAD_LETTER,
    MIN_PREFIX,
    AmbiguousId,
    IdNotFound,
    emit_json,
    match_id,
    operator_listing,
    paris_time,
    parse_id,
    resolve_id,
)

A = UUID("5f3a0c1e-0000-4000-8000-000000000001")
B = UUID("5f3a0c1e-0000-4000-8000-000000000002")
C = UUID("9b00d2aa-1111-4111-8111-111111111111")
IDS = [A, B, C]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (str(C), C),  # the whole id
        (str(C).upper(), C),  # as a spreadsheet shouted it
        ("9b00", C),  # the shortest prefix accepted
        ("9b00d2aa-11", C),  # with its dash
        ("9b00d2aa11", C),  # without
        (str(C)[:-1], C),  # all but the last character
    ],
)
def test_a_unique_prefix_names_its_id(text: str, expected: UUID) -> None:
    assert match_id(parse_id(text, CASE), IDS, CASE) == expected


def test_an_ambiguous_prefix_says_how_many_match() -> None:
    with pytest.raises(AmbiguousId) as caught:
        match_id(parse_id("5f3a0c1e", CASE), IDS, CASE)
    assert caught.value.count == 2
    assert "2 dossiers" in str(caught.value)


def test_a_prefix_or_id_nobody_has_is_not_found() -> None:
    with pytest.raises(IdNotFound, match="aucune lettre morte"):
        match_id(parse_id("abcd", DEAD_LETTER), IDS, DEAD_LETTER)
    with pytest.raises(IdNotFound):
        match_id(UUID(int=7), IDS, CASE)


@pytest.mark.parametrize("text", ["9b0", "", "zzzz", "9b00 d2", "-9b00", "x" * 40])
def test_too_short_or_not_hex_is_bad_input(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as caught:
        parse_id(text, CASE)
    assert caught.value.exit_code == 2
    assert str(MIN_PREFIX) in capsys.readouterr().err


@pytest.mark.parametrize(("text", "code"), [("5f3a", 2), ("abcd", 1), ("9b00", None)])
def test_resolve_id_exits_2_when_ambiguous_1_when_unknown(
    text: str, code: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if code is None:
        assert resolve_id(text, IDS, CASE) == C
        return
    with pytest.raises(typer.Exit) as caught:
        resolve_id(text, IDS, CASE)
    assert caught.value.exit_code == code
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (datetime(2026, 12, 6, 9, 30, tzinfo=UTC), "2026-12-06 10:30 CET"),
        (datetime(2026, 7, 14, 9, 30, tzinfo=UTC), "2026-07-14 11:30 CEST"),
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29 01:59 CET"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29 03:00 CEST"),
    ],
)
def test_times_are_paris_with_their_zone(instant: datetime, shown: str) -> None:
    assert paris_time(instant) == shown


def printed(renderable: object, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


COLUMNS = ["id", "raison", "source", "dossier", "détail"]
ROWS = [
    [str(A), "BAD_SIGNATURE", "nrm.outbox.police-93[0]@12", str(B), "x " * 90],
    [str(C), "NO_ELIGIBLE_RECIPIENT", "nrm.outbox.police-93[0]@13", str(A), "y"],
]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_ids_are_whole_on_one_line_at_any_width(width: int) -> None:
    text = printed(operator_listing("t", COLUMNS, ROWS, ids=["id", "dossier"], width=width), width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for row in ROWS:
        assert row[0] in text
        assert row[3] in text


def test_a_wide_terminal_gets_a_table_a_narrow_one_blocks() -> None:
    listing = operator_listing("t", COLUMNS, ROWS, ids=["id", "dossier"], width=200)
    assert "┃" in printed(listing, 200)
    narrow = printed(operator_listing("t", COLUMNS, ROWS, ids=["id", "dossier"]), 80)
    assert "┃" not in narrow
    assert f"dossier  {B}" in narrow


def test_json_is_plain_and_keeps_accents(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json([{"département": "93", "id": A}])
    printed = capsys.readouterr().out
    assert json.loads(printed) == [{"département": "93", "id": str(A)}]
    assert "\x1b[" not in printed


@pytest.mark.parametrize(
    ("argv", "key"), [(["topics", "list"], "name"), (["schemas", "list"], "subject")]
)
def test_offline_listings_take_json_too(argv: list[str], key: str) -> None:
    from typer.testing import CliRunner

    from hub.cli.app import app

    result = CliRunner().invoke(app, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows
    assert all(key in row for row in rows)
