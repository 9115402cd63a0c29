"""The import rules of pyproject.toml ([tool.importlinter]) hold, and `lint-imports` fails,
naming the broken rule, when a copy of the code breaks one on purpose."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.runtime.settings import PROJECT_ROOT

LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("hub", "agents", "connectors")


def _copy_of_the_code(root: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            PROJECT_ROOT / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.html", "static"),
        )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path: the rules are checked on it, not on the installed code.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-logo", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_import_rule(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


LAZY_WORKER_IMPORT = """\
def run() -> None:
    from agents.worker import run_worker

    del run_worker
"""
TERMINAL_FREE = "contracts, rules, flow and audit use no Kafka client, web framework or terminal"


@pytest.mark.parametrize(
    ("modules", "broken"),
    [
        (
            {"hub/rules/kafka_shortcut.py": "import aiokafka\n"},
            TERMINAL_FREE,
        ),
        (
            {"hub/flow/terminal.py": "from rich.console import Console\n"},
            TERMINAL_FREE,
        ),
        (
            # A lazy import, inside a function, counts too.
            {"hub/cli/worker_shortcut.py": LAZY_WORKER_IMPORT},
            "hub imports neither the worker (agents) nor the edges (connectors)",
        ),
        (
            {"agents/gateway_shortcut.py": "import connectors.gateway.app\n"},
            "connectors above agents above hub",
        ),
        (
            {"hub/contracts/rule_shortcut.py": "import hub.rules.routing\n"},
            "the wings of hub, each importing only those below it",
        ),
        (
            {"connectors/mounted_twice.py": "from hub.cli.app import app\n"},
            "command groups use hub.cli.context, never the app that mounts them",
        ),
        (
            {
                "hub/contracts/enums_loop.py": "import hub.contracts.topics_loop\n",
                "hub/contracts/topics_loop.py": "import hub.contracts.enums_loop\n",
            },
            "no import loop between the modules of one package",
        ),
    ],
)
def test_a_deliberate_violation_fails_naming_its_rule(
    tmp_path: Path, modules: dict[str, str], broken: str
) -> None:
    root = _copy_of_the_code(tmp_path)
    for module, source in modules.items():
        (root / module).write_text(source)
    result = _lint_imports(root)
    assert result.returncode != 0, result.stdout
    assert f"{broken} BROKEN" in result.stdout, result.stdout
