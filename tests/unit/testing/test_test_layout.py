"""The test tree imports test modules by basename (no packages, rootdir on sys.path), so two
test files with one name in two folders break collection for the whole run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]


def test_every_test_module_has_a_unique_basename() -> None:
    names = Counter(path.name for path in TESTS.rglob("*.py") if path.name != "__init__.py")
    repeated = sorted(name for name, count in names.items() if count > 1 and name != "conftest.py")
    assert repeated == []
