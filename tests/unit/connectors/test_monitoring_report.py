"""``hub monitoring report``'s output and refusals: one self-contained HTML file (no external
asset, charts inlined) with PNG charts beside it, « masqué » where a cell is suppressed, and a
French line with exit 2 for bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from monitoring_story import hand_counted

from connectors.monitoring.report import REPORT_FILE, sections, write_report

HUB = str(Path(sys.executable).parent / "hub")
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_report_is_one_self_contained_page_with_its_charts(tmp_path: Path) -> None:
    shown = hand_counted()
    paths = write_report(shown, tmp_path / "out", datetime(2026, 11, 20, tzinfo=UTC))
    html = (tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8")
    assert paths[0].name == REPORT_FILE
    charts = paths[1:]
    assert len(charts) == 8
    assert all(p.read_bytes().startswith(PNG) for p in charts)
    # everything is inline: no link, script or image fetched from anywhere
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    assert "<script" not in html
    assert html.count('src="data:image/png;base64,') == 8
    # French, with the hand-counted figures and the suppressed cells said as such
    assert "Signalements par forme d'exploitation" in unescape(html)
    assert "Part des dossiers ouverts dans la période qui sont identifiés : 31,2 %" in html
    assert "masqué" in html
    assert "du 2026-11-02 au 2026-11-15 inclus" in html


def test_without_the_charts_extra_the_sections_still_carry_the_numbers() -> None:
    shown = hand_counted()
    parts = sections(shown, draw=False)
    assert all(part.png is None and part.data_uri is None for part in parts)
    delays = next(p for p in parts if p.name == "delays")
    assert ("Signalement → motifs raisonnables", "6", "3,5", "6,0") in delays.rows


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "2026-12-01", "--until", "2026-11-01"], "doit précéder --until"),
        (["--since", "2026-11-01", "--until", "2026-11-01"], "doit précéder --until"),
        (["--since", "2026-13-01", "--until", "2026-12-01"], "doit être une date"),
        (["--since", "hier", "--until", "2026-12-01"], "doit être une date"),
        (["--until", "2026-12-01"], "sont obligatoires"),
        (["--since", "2026-11-01", "--until", "2026-12-01", "--threshold", "1"], "au moins 2"),
    ],
)
def test_bad_input_is_one_french_line_and_exit_2(args: list[str], says: str) -> None:
    result = subprocess.run(
        [HUB, "monitoring", "report", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_without_matplotlib_the_command_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from connectors.monitoring import report
    from hub.cli.app import app

    monkeypatch.setattr(report, "can_draw", lambda: False)
    result = CliRunner().invoke(
        app, ["monitoring", "report", "--since", "2026-11-01", "--until", "2026-12-01"]
    )
    assert result.exit_code == 2
    assert "pip install 'nrm-hub[charts]'" in result.output
