"""``hub --log-json CMD`` reaches every command, as ``HUB_LOG_JSON=true`` does.

The gateway (and any server) configures logging again from the settings it is given; the flag
used to stop at the CLI's callback, so ``hub --log-json gateway`` logged coloured console lines.
"""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import app as cli_app
from hub.cli.app import main_options
from hub.cli.context import current_settings
from hub.runtime.settings import HubSettings


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the callback configured, without changing the test process's logging."""
    calls: list[bool] = []
    monkeypatch.setattr(cli_app, "configure_logging", lambda *, json, level: calls.append(json))
    return calls


def _probe_app(seen: list[bool]) -> typer.Typer:
    app = typer.Typer()
    app.callback()(main_options)

    @app.command()
    def probe() -> None:
        seen.append(current_settings().log_json)

    @app.command()
    def other() -> None:  # two commands: typer then keeps the subcommand level
        pass

    return app


@pytest.mark.parametrize(("argv", "expected"), [(["--log-json"], True), ([], False)])
def test_the_flag_is_in_the_settings_every_command_reads(
    argv: list[str], expected: bool, configured: list[bool]
) -> None:
    seen: list[bool] = []
    result = CliRunner().invoke(_probe_app(seen), [*argv, "probe"], obj=HubSettings(log_json=False))
    assert result.exit_code == 0, result.output
    assert configured == [expected]
    assert seen == [expected]


def test_the_environment_alone_still_counts() -> None:
    seen: list[bool] = []
    result = CliRunner().invoke(_probe_app(seen), ["probe"], obj=HubSettings(log_json=True))
    assert result.exit_code == 0, result.output
    assert seen == [True]
