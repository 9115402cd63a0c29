"""`hub` mounts the worker's and the edges' command groups from their entry points: the same
commands as when hub/cli imported them, and one clear line when a group cannot be loaded."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest
import typer

from hub.cli import app as cli_app
from hub.cli.app import COMMAND_GROUPS, app, mount_command_groups

COMMANDS = {
    # the hub's own
    "broker",
    "decode",
    "encode",
    "topics",
    "schemas",
    "keys",
    "acls",
    # the worker's (agents/commands.py)
    "replay",
    "subject-report",
    "erase",
    "worker",
    "overdue",
    "audit",
    "case",
    "deadletters",
    "directory",
    "retention",
    # the edges' (connectors/commands.py)
    "dashboard",
    "public-report",
    "demo",
    "registry",
    "gateway",
    "webhooks",
    "prefecture",
    "observatory",
    "monitoring",
}


def test_hub_offers_every_command_group_it_did_before() -> None:
    command: Any = typer.main.get_command(app)
    assert set(command.commands) == COMMANDS


def test_a_group_that_cannot_be_loaded_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint(name="broken", value="nowhere_at_all:register", group=COMMAND_GROUPS)
    monkeypatch.setattr(cli_app, "entry_points", lambda group: [broken])
    target = typer.Typer()
    mount_command_groups(target)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "erreur : impossible de charger les commandes 'broken' (nowhere_at_all:register) : "
        "ModuleNotFoundError: No module named 'nowhere_at_all'"
    ]
