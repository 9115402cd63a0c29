"""The prefecture's work queue holds names (issue 22): a thief with another account on the
prefecture's machine must not read it. The queue file, and every file SQLite keeps beside it,
is readable by its owner only, whatever the umask, and a queue created earlier with looser
permissions is tightened when opened."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.prefecture.queue import WorkQueue

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def add_named(queue: WorkQueue) -> None:
    queue.add(
        request_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        departement="93",
        permit_type="TEMPORARY_RESIDENCE_L425_1",
        person_ref="P-93-9",
        now=NOW,
        first_name="Amina",
        last_name="Diallo",
    )


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


@pytest.mark.usefixtures("loose_umask")
def test_the_queue_and_its_sidecar_files_are_the_owners_only(tmp_path: Path) -> None:
    with WorkQueue(tmp_path / "perm.sqlite") as queue:
        add_named(queue)
        during = modes(tmp_path)
    after = modes(tmp_path)
    assert "perm.sqlite" in after
    for name, mode in {**during, **after}.items():
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"


@pytest.mark.usefixtures("loose_umask")
def test_a_world_readable_queue_is_tightened_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "perm.sqlite"
    with WorkQueue(path) as queue:
        add_named(queue)
    path.chmod(0o644)
    with WorkQueue(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
