"""Committed schema ids, BACKWARD_TRANSITIVE evolution, and `hub schemas check|register`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.events import EVENT_MODELS
from hub.contracts.registry import MANIFEST, SchemaRegistry

runner = CliRunner()


@pytest.fixture
def schemas_copy(schemas_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(schemas_dir, copy)
    return copy


def add_field(schemas: Path, type_name: str, field: dict[str, object]) -> None:
    path = schemas / "avro" / f"{type_name}.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append(field)
    path.write_text(json.dumps(schema, indent=2))


def test_every_event_model_has_a_registered_subject(registry: SchemaRegistry) -> None:
    assert set(EVENT_MODELS) <= set(registry.subjects())


def test_committed_sources_match_their_latest_registered_versions(
    registry: SchemaRegistry,
) -> None:
    pending = registry.pending_changes(sorted(set(registry.subjects()) | set(EVENT_MODELS)))
    assert [change.subject for change in pending] == []


def test_schema_ids_are_the_same_in_another_process(registry: SchemaRegistry) -> None:
    script = (
        "import json; from hub.contracts.registry import SchemaRegistry; "
        "from hub.runtime.settings import "
        "PROJECT_ROOT; print(json.dumps({s.subject + '/' + str(s.version): s.schema_id "
        "for s in SchemaRegistry.load(PROJECT_ROOT / 'schemas')}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    here = {f"{s.subject}/{s.version}": s.schema_id for s in registry}
    assert json.loads(output) == here


def test_check_passes_on_the_committed_schemas(schemas_dir: Path) -> None:
    result = runner.invoke(app, ["schemas", "check", "--schemas-dir", str(schemas_dir)])
    assert result.exit_code == 0, result.output


def test_check_refuses_a_new_field_without_default(schemas_copy: Path) -> None:
    add_field(schemas_copy, "fr.nrm.Envelope", {"name": "tenant", "type": "string"})
    manifest_before = (schemas_copy / MANIFEST).read_text()

    checked = runner.invoke(app, ["schemas", "check", "--schemas-dir", str(schemas_copy)])
    assert checked.exit_code == 1
    assert "incompatible" in checked.output
    assert "reader_field_missing_default_value" in checked.output
    assert "BACKWARD_TRANSITIVE" in checked.output

    registered = runner.invoke(app, ["schemas", "register", "--schemas-dir", str(schemas_copy)])
    assert registered.exit_code == 1
    assert (schemas_copy / MANIFEST).read_text() == manifest_before


def test_compatible_change_gets_a_new_id_and_old_records_still_decode(
    schemas_copy: Path, registry: SchemaRegistry
) -> None:
    subject = "fr.nrm.CaseClosed"
    old = registry.latest(subject)
    add_field(
        schemas_copy,
        subject,
        {"name": "closed_by_note", "type": ["null", "string"], "default": None, "doc": "test"},
    )
    checked = runner.invoke(app, ["schemas", "check", "--schemas-dir", str(schemas_copy)])
    assert checked.exit_code == 1
    assert "non enregistré" in checked.output

    registered = runner.invoke(app, ["schemas", "register", "--schemas-dir", str(schemas_copy)])
    assert registered.exit_code == 0, registered.output
    evolved = SchemaRegistry.load(schemas_copy)
    new = evolved.latest(subject)
    assert new.version == old.version + 1
    assert new.schema_id == max(s.schema_id for s in registry) + 1
    assert evolved.by_id(old.schema_id).schema == old.schema  # old ids never move

    codec = Codec(evolved)
    record = codec.decode(Codec(registry).encode_with(old, _case_closed_record(registry))).record
    assert record["closed_by_note"] is None
    check_again = runner.invoke(app, ["schemas", "check", "--schemas-dir", str(schemas_copy)])
    assert check_again.exit_code == 0, check_again.output


def _case_closed_record(registry: SchemaRegistry) -> dict[str, object]:
    from hub.contracts.events import subject_of
    from hub.contracts.examples import example_events

    for _agency, event in example_events():
        if subject_of(type(event)) == "fr.nrm.CaseClosed":
            return event.model_dump()
    raise AssertionError("no CaseClosed example")


def test_register_of_a_subject_without_source_says_so_in_french(schemas_copy: Path) -> None:
    refused = runner.invoke(
        app, ["schemas", "register", "fr.nrm.Nope", "--schemas-dir", str(schemas_copy)]
    )
    assert refused.exit_code == 1
    assert "aucun fichier source pour le sujet fr.nrm.Nope" in refused.stderr
    assert "no source file" not in refused.output
