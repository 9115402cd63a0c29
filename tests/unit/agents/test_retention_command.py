"""``hub retention run`` refuses a schedule it cannot trust in one line, before it touches
the broker or any key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.app import app
from hub.runtime.settings import PROJECT_ROOT, HubSettings

CONFIG = PROJECT_ROOT / "deploy" / "config"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("retention_days: 7\n", "retention_days: 0\n"), "at least 1"),
        (
            (
                'source: "hub policy: same period as nrm.deadletters (GDPR art. 5(1)(e))."',
                'source: "same period as nrm.deadletters."',
            ),
            "must cite",
        ),
        (("after_closure_days: 730", "after_closure_days: soon"), "after_closure_days"),
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
