"""The CLI answers bad input with a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hub.cli.app import app
from hub.cli.context import BAD_INPUT
from hub.contracts.codec import Codec
from hub.contracts.events import subject_of
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry

runner = CliRunner()


def test_decode_of_corrupt_bytes_names_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(b"\x07garbage")
    result = runner.invoke(app, ["decode", str(path)])
    assert result.exit_code == BAD_INPUT
    assert "CORRUPT_FRAME" in result.output
    assert "Traceback" not in result.output


def test_decode_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["decode", str(tmp_path / "nope.bin")])
    assert result.exit_code == BAD_INPUT
    assert "impossible de lire" in result.output


def test_encode_then_decode_round_trips_through_files(
    tmp_path: Path, registry: SchemaRegistry
) -> None:
    _agency, event = example_events()[0]
    source = tmp_path / "event.json"
    source.write_text(event.model_dump_json())
    frame = tmp_path / "event.bin"
    encoded = runner.invoke(app, ["encode", subject_of(type(event)), str(source), "-o", str(frame)])
    assert encoded.exit_code == 0, encoded.output
    assert Codec(registry).decode_event(frame.read_bytes()) == event
    decoded = runner.invoke(app, ["decode", str(frame)])
    assert decoded.exit_code == 0, decoded.output
    assert subject_of(type(event)) in decoded.output


def test_encode_of_an_invalid_event_names_the_field(tmp_path: Path) -> None:
    _agency, event = example_events()[0]
    broken = json.loads(event.model_dump_json())
    broken["envelope"]["event_id"] = "not-a-uuid"
    source = tmp_path / "event.json"
    source.write_text(json.dumps(broken))
    result = runner.invoke(
        app, ["encode", subject_of(type(event)), str(source), "-o", str(tmp_path / "x.bin")]
    )
    assert result.exit_code == BAD_INPUT
    assert "event_id" in result.output


def test_encode_of_an_unknown_subject_lists_the_known_ones(tmp_path: Path) -> None:
    source = tmp_path / "event.json"
    source.write_text("{}")
    result = runner.invoke(app, ["encode", "fr.nrm.Nope", str(source), "-o", str(tmp_path / "x")])
    assert result.exit_code == BAD_INPUT
    assert "sujet inconnu" in result.output


def test_an_unknown_dead_letter_reason_is_refused_before_the_broker() -> None:
    result = CliRunner().invoke(app, ["deadletters", "list", "--reason", "WHATEVER"])
    assert result.exit_code == BAD_INPUT
    assert "BAD_SIGNATURE" in result.stderr  # the known reasons are listed
    assert len(result.stderr.strip().splitlines()) == 1
