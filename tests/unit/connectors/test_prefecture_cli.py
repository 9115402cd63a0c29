"""``hub prefecture list``: the clerk sees whole ids, the person's name, Paris time with its
zone, and scripts get JSON (issue 22, finding 7)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.prefecture.queue import WorkQueue
from hub.cli.app import app

runner = CliRunner()
NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, list[uuid.UUID]]:
    path = tmp_path / "queue.sqlite"
    ids = [uuid.uuid4(), uuid.uuid4()]
    with WorkQueue(path) as queue:
        for request_id, (first, last) in zip(ids, [("Amina", "Diallo"), (None, None)], strict=True):
            queue.add(
                request_id=request_id,
                case_id=uuid.uuid4(),
                event_id=uuid.uuid4(),
                departement="93",
                permit_type="TEMPORARY_RESIDENCE_L425_1",
                person_ref="P-93-1",
                now=NOW,
                first_name=first,
                last_name=last,
            )
    return path, ids


def test_list_shows_whole_ids_the_name_and_paris_time_at_80_columns(
    db: tuple[Path, list[uuid.UUID]],
) -> None:
    path, ids = db
    result = runner.invoke(app, ["prefecture", "list", "--db", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    for request_id in ids:
        assert str(request_id) in result.stdout
    assert "DIALLO Amina" in result.stdout
    assert "2026-12-06 10:30 CET" in result.stdout
    assert "en attente" in result.stdout


def test_list_json_carries_the_name_and_full_ids(db: tuple[Path, list[uuid.UUID]]) -> None:
    path, ids = db
    result = runner.invoke(app, ["prefecture", "list", "--db", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["request_id"] for row in rows] == [str(i) for i in ids]
    assert (rows[0]["first_name"], rows[0]["last_name"]) == ("Amina", "Diallo")
    assert rows[1]["last_name"] is None


@pytest.mark.parametrize(("prefix", "code", "said"), [("zz", 2, "UUID"), ("0000", 1, "aucune")])
def test_answer_refuses_a_malformed_or_unknown_request_before_the_broker(
    db: tuple[Path, list[uuid.UUID]], prefix: str, code: int, said: str
) -> None:
    path, _ = db
    result = runner.invoke(
        app,
        ["prefecture", "answer", prefix, "--as", "receipt", "--db", str(path), "--agency", "p"],
    )
    assert result.exit_code == code
    assert said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
