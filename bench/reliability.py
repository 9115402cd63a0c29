"""The reliability summary: run tests/reliability and print what they measured as one JSON.

    .venv/bin/python bench/reliability.py          # the sizes `make test` runs
    .venv/bin/python bench/reliability.py --full   # issue 13's sizes (about 15 minutes here)

The tests are the single source of the figures: each appends a JSON line to
$NRM_RELIABILITY_REPORT; this script sets the sizes, runs pytest, and adds the lines up:
events sent, crashes, lost, duplicates on topics, duplicates at clients, bad records tried,
dead-lettered by reason, streams stopped, broker restarts survived. Goals: lost 0, client
duplicates 0, stopped 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FULL = {
    "NRM_CRASH_EVENTS": "10000",
    "NRM_CRASH_KILLS": "10",
    "NRM_CRASH_RATE": "100",
    "NRM_BAD_RECORDS": "10000",
    "NRM_OUTAGE_EVENTS": "2000",
    "NRM_OUTAGE_RESTARTS": "3",
    "NRM_PRIVACY_EXAMPLES": "1000",
}


def summarise(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's figures from the tests' JSON lines."""
    by_test = {line["test"]: line for line in lines}
    crash = by_test.get("crash", {})
    bad = by_test.get("bad_input", {})
    outage = by_test.get("broker_outage", {})
    reasons: Counter[str] = Counter(bad.get("dead_lettered_by_reason", {}))
    topic_duplicates = crash.get("duplicates_on_topics", {})
    return {
        "events_sent": crash.get("events_sent", 0) + outage.get("events_sent", 0),
        "crashes": crash.get("crashes", 0),
        "lost": crash.get("lost", 0) + outage.get("lost", 0),
        "duplicates_on_topics": sum(topic_duplicates.values()),
        "duplicates_on_topics_by_topic": topic_duplicates,
        "duplicates_at_clients": crash.get("duplicates_at_clients", 0),
        "bad_records_tried": bad.get("bad_records_tried", 0),
        "good_records_routed_between_them": bad.get("good_records_routed", 0),
        "dead_lettered_by_reason": dict(sorted(reasons.items())),
        "streams_stopped": bad.get("streams_stopped", 0),
        "broker_restarts_survived": outage.get("broker_restarts_survived", 0),
        "goals_met": crash.get("lost", 1) == 0
        and outage.get("lost", 1) == 0
        and crash.get("duplicates_at_clients", 1) == 0
        and bad.get("streams_stopped", 1) == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="issue 13's sizes")
    parser.add_argument("--skip-soak", action="store_true", help="leave the short soak out")
    parser.add_argument(
        "--pytest-log", type=Path, default=None, help="where to keep pytest's own output"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nrm-reliability-") as workdir:
        report = Path(workdir) / "figures.jsonl"
        env = {**os.environ, "NRM_RELIABILITY_REPORT": str(report), **(FULL if args.full else {})}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/reliability",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        if args.skip_soak:
            command += ["--deselect", "tests/reliability/test_soak.py"]
        started = time.monotonic()
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
        if args.pytest_log is not None:
            args.pytest_log.write_bytes(run.stdout + run.stderr)
        lines = [json.loads(x) for x in report.read_text().splitlines()] if report.exists() else []
    outcome = run.stdout.decode(errors="replace").strip().splitlines()[-1:]
    result = {
        "sizes": "full" if args.full else "make test",
        "pytest": {"exit_code": run.returncode, "summary": outcome[0] if outcome else ""},
        "seconds": round(time.monotonic() - started, 1),
        "summary": summarise(lines),
        "tests": {line.pop("test"): line for line in lines},
    }
    print(json.dumps(result, indent=2, sort_keys=False))
    sys.exit(0 if run.returncode == 0 else 1)


if __name__ == "__main__":
    main()
