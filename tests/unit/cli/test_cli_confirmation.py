"""Destructive commands ask first (issue 22, item 6): ``--yes`` skips the question, no answer
means no, and without a terminal nothing is done unasked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hub.cli.app import app
from hub.cli.operator_output import confirm

runner = CliRunner()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_yes_skips_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    confirm("Tout supprimer", yes=True)


@pytest.mark.parametrize(
    ("answer", "code"),
    [("o\n", None), ("Oui\n", None), ("n\n", 1), ("\n", 1), ("", 1), ("yes\n", 1), ("ok\n", 1)],
)
def test_a_terminal_is_asked_in_french_and_no_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    code: int | None,
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    if code is None:
        confirm("Révoquer la clé k-1", yes=False)
    else:
        with pytest.raises(typer.Exit) as caught:
            confirm("Révoquer la clé k-1", yes=False)
        assert caught.value.exit_code == code
    asked = capsys.readouterr()
    assert asked.err.startswith("Révoquer la clé k-1 ? [o/N] "), asked.err
    assert "y/N" not in asked.err
    assert asked.out == ""


def test_without_a_terminal_nothing_is_done_unasked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not an answer
    with pytest.raises(typer.Exit) as caught:
        confirm("Révoquer la clé k-1", yes=False)
    assert caught.value.exit_code == 2
    assert "--yes" in capsys.readouterr().err


def test_replacing_a_private_key_needs_yes(tmp_path: Path) -> None:
    first = runner.invoke(app, ["keys", "generate", "police-93", "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    pem = tmp_path / "police-93.pem"
    before = pem.read_bytes()
    refused = runner.invoke(
        app, ["keys", "generate", "police-93", "--out", str(tmp_path), "--force"]
    )
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert pem.read_bytes() == before  # the old key is still there
    replaced = runner.invoke(
        app, ["keys", "generate", "police-93", "--out", str(tmp_path), "--force", "--yes"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert pem.read_bytes() != before
