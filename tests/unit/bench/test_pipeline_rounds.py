"""bench/pipeline.py --repeat: each round's ratios are of that round, and the spread of every
figure is what the rounds measured (a median, never a best run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline import spread, with_ratios  # noqa: E402


def one_round(hub: int, faust: int, ceiling: int, p99: float) -> dict[str, Any]:
    return with_ratios(
        {
            "ceiling": {"msgs_per_s": ceiling},
            "faust": {"msgs_per_s": faust},
            "hub": {"msgs_per_s": hub, "like_for_like": True, "signatures": "verified"},
            "latency": {"p99_ms": p99, "idle_cpu_cores": {"worker": 0.1}},
        }
    )


def test_a_rounds_ratio_compares_the_hub_with_the_faust_of_the_same_round() -> None:
    rounds = [one_round(400, 500, 3000, 35.0), one_round(420, 400, 2800, 57.0)]
    assert [r["ratio"]["hub_vs_faust"] for r in rounds] == [0.8, 1.05]
    assert rounds[0]["ratio"]["hub_vs_ceiling"] == 0.133


def test_the_spread_is_the_median_and_range_of_every_round_not_the_best() -> None:
    rounds = [
        one_round(400, 500, 3000, 35.0),
        one_round(420, 400, 2800, 57.0),
        one_round(380, 450, 3100, 33.0),
    ]
    figures = spread(rounds)
    assert figures["latency"]["p99_ms"] == {
        "median": 35.0,
        "min": 33.0,
        "max": 57.0,
        "each": [35.0, 57.0, 33.0],
    }
    assert figures["ratio"]["hub_vs_faust"]["median"] == 0.84
    assert figures["hub"]["msgs_per_s"]["each"] == [400, 420, 380]


def test_flags_texts_and_nested_figures_are_not_averaged() -> None:
    figures = spread([one_round(400, 500, 3000, 35.0), one_round(420, 400, 2800, 57.0)])
    assert "like_for_like" not in figures["hub"]
    assert "signatures" not in figures["hub"]
    assert "idle_cpu_cores" not in figures["latency"]


def test_a_figure_missing_from_a_round_gets_no_median() -> None:
    first = one_round(400, 500, 3000, 35.0)
    second = one_round(420, 400, 2800, 57.0)
    del second["latency"]["p99_ms"]
    assert "p99_ms" not in spread([first, second])["latency"]
