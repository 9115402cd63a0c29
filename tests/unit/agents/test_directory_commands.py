"""``hub directory`` on bad input: one clear line, exit 2, no traceback, nothing published.

Every case here fails before the broker is asked (the settings point at a closed port, so a
command that reached it would exit 1 instead)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.app import app
from hub.runtime.settings import HubSettings

GOOD_KEY = "DSixEMXpcI8gF55jZq7jx+uSqOfpAPA0mEQLXKbScT4="
runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["add-key", "police-93", "k-1", "notbase64!"], "la clé publique n'est pas en base64"),
        (["add-key", "police-93", "k-1", "AAAA"], "la clé publique fait 3 octets, pas 32"),
        (["add-key", "police-93", "", GOOD_KEY], "identifiant de clé"),
        (["rotate-authority", "k-2", "AAAA"], "la clé publique fait 3 octets"),
        (
            ["rotate-authority", "k-2", GOOD_KEY, "--authority-key", "/nonexistent.pem"],
            "illisible",
        ),
        (["revoke-key", "police-93", "k-1", "--authority-key", "/nonexistent.pem"], "illisible"),
        (["set", "/nonexistent.yaml"], "fichier introuvable"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    settings = HubSettings(bootstrap_servers="127.0.0.1:1")
    result = runner.invoke(app, ["directory", *args], obj=settings)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_agency_file_missing_a_field_names_it(tmp_path: Path) -> None:
    agency_file = tmp_path / "agency.yaml"
    agency_file.write_text("id: police-93\nname: Commissariat\n")
    result = runner.invoke(
        app,
        ["directory", "set", str(agency_file)],
        obj=HubSettings(bootstrap_servers="127.0.0.1:1"),
    )
    assert result.exit_code == 2
    assert "role : obligatoire, absent" in result.output
