"""A short soak in `make test`: bench/soak.py at a low rate for ~30 s, 10-second windows.

The full soak (500 events/s for 10 minutes) is run by hand; its figures are in
docs/RELIABILITY.md. Here the bounds are generous — the machine is shared with the rest of the
suite — but a leak or a creeping backlog of any size would still break them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from figures import Report, env_int

pytestmark = [pytest.mark.slow, pytest.mark.serial]

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
RATE = env_int("NRM_SOAK_RATE", 100)
SECONDS = env_int("NRM_SOAK_SECONDS", 30)
WINDOW = env_int("NRM_SOAK_WINDOW", 10)


def test_a_paced_load_keeps_latency_and_worker_memory_flat(report: Report) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--rate",
            str(RATE),
            "--seconds",
            str(SECONDS),
            "--window",
            str(WINDOW),
            "--cases",
            str(RATE * WINDOW // 2),
        ],
        capture_output=True,
        timeout=SECONDS + 180,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    result = json.loads(run.stdout)
    steady = result["steady"]
    windows = {w["window"]: w for w in result["windows"]}
    first, last = windows[steady["first_window"]], windows[steady["last_window"]]
    report("soak_short", {k: v for k, v in result.items() if k != "windows"})
    assert result["undelivered_at_end"] == 0
    assert result["achieved_requests_per_s"] >= 0.9 * RATE / 2
    assert last["worker_rss_mib"] < 1.5 * first["worker_rss_mib"]
    assert last["p99_ms"] <= max(3 * first["p99_ms"], first["p99_ms"] + 500)
    assert last["backlog"] <= max(3 * RATE, 2 * first["backlog"])
