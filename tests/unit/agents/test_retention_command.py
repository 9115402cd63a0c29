"""``hub retention run`` refuses a schedule it cannot trust in one line, before it touches
the broker or any key."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.app import app
from hub.runtime.settings import PROJECT_ROOT, HubSettings

CONFIG = PROJECT_ROOT / "deploy" / "config"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("retention_days: 7\n", "retention_days: 0\n"), "au moins 1"),
        (
            (
                'source: "hub policy: same period as nrm.deadletters (GDPR art. 5(1)(e))."',
                'source: "same period as nrm.deadletters."',
            ),
            "doit citer",
        ),
        (
            ("after_last_contact_days: 730", "after_last_contact_days: soon"),
            "after_last_contact_days",
        ),
    ],
    ids=["zero days", "no source", "no period"],
)
def test_a_bad_schedule_is_one_line_and_exit_2(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    schedule = config / "retention.yaml"
    text = schedule.read_text(encoding="utf-8")
    assert change[0] in text
    schedule.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    settings = HubSettings(
        bootstrap_servers="127.0.0.1:9", config_dir=config, data_dir=tmp_path / "data"
    )
    result = CliRunner().invoke(app, ["retention", "run"], obj=settings)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # no key store was even opened


@pytest.mark.parametrize(
    ("ahead", "speed"),
    [(timedelta(days=731), 1.0), (timedelta(hours=1), 1.0), (timedelta(0), 10_000.0)],
    ids=["two years ahead", "an hour ahead", "running fast since a minute ago"],
)
def test_a_clock_set_ahead_of_the_wall_clock_expires_nothing(
    tmp_path: Path, ahead: timedelta, speed: float
) -> None:
    # One operator's HUB_CLOCK_START must not make every case look two years old: refused in
    # one line before the broker, the key store or any command is touched (the worker also
    # decides on its own clock: tests/unit/flow/test_expiry_flow.py).
    anchor = datetime.now(UTC) - timedelta(minutes=1)
    settings = HubSettings(
        bootstrap_servers="127.0.0.1:9",
        data_dir=tmp_path / "data",
        clock_start=anchor + ahead,
        clock_anchor=anchor,
        clock_speed=speed,
    )
    result = CliRunner().invoke(app, ["retention", "run"], obj=settings)
    assert result.exit_code == 2, result.output
    assert "en avance sur l'heure réelle" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()
