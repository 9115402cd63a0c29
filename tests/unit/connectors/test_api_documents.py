"""The one write-or-check of the generated API documents (docs/openapi.json, docs/asyncapi.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.api_documents import document_command, render


def test_write_then_check_then_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "api.json"
    document = {"b": 1, "a": "é"}
    assert document_command("python -m x", path, lambda: document, ["--check"]) == 1
    assert "is stale: run python -m x --write" in capsys.readouterr().out
    assert document_command("python -m x", path, lambda: document, ["--write"]) == 0
    assert path.read_text(encoding="utf-8") == render(document) == '{\n  "b": 1,\n  "a": "é"\n}\n'
    assert document_command("python -m x", path, lambda: document, ["--check"]) == 0
    assert document_command("python -m x", path, lambda: {"b": 2}, ["--check"]) == 1
    capsys.readouterr()
    assert document_command("python -m x", path, lambda: document, []) == 0
    assert capsys.readouterr().out == render(document)
