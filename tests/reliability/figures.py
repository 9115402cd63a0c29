"""Sizes from the environment and the JSON figures each reliability test reports."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

REPORT_ENV = "NRM_RELIABILITY_REPORT"
Report = Callable[[str, dict[str, Any]], None]


def env_int(name: str, default: int) -> int:
    """An integer from the environment (full-size runs set them), else ``default``."""
    return int(os.environ.get(name, default))


def write_report(name: str, figures: dict[str, Any]) -> None:
    """Print one test's figures as a JSON line; append it to $NRM_RELIABILITY_REPORT."""
    line = json.dumps({"test": name, **figures}, sort_keys=True, default=str)
    print(line)
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
