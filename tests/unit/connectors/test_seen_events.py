"""The clients' memory of event ids already handed over."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors.client.seen_events as seen_events
from connectors.client.seen_events import SeenEvents

IDS = st.lists(st.sampled_from([uuid.UUID(int=n) for n in range(20)]), max_size=60)


def hand_over(seen: SeenEvents, ids: list[uuid.UUID]) -> list[bool]:
    """For each id in turn: new (True) or a redelivery (False); new ones are confirmed."""
    answers = []
    for event_id in ids:
        new = not seen.seen(event_id)
        if new:
            seen.confirm([event_id])
        answers.append(new)
    return answers


@given(IDS)
def test_only_the_first_copy_of_an_event_id_is_new(ids: list[uuid.UUID]) -> None:
    assert hand_over(SeenEvents(), ids) == [i not in ids[:n] for n, i in enumerate(ids)]


@settings(max_examples=25, deadline=None)
@given(IDS, st.integers(min_value=1, max_value=8))
def test_the_file_store_answers_as_the_memory_store_even_when_trimmed(
    ids: list[uuid.UUID], limit: int
) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(seen_events, "TRIM_EVERY", 1)
        in_memory = SeenEvents(limit=limit)
        # A new store per id: the disk alone must remember what the memory remembers.
        answers = []
        for event_id in ids:
            reopened = SeenEvents(Path(folder) / "seen.sqlite", limit=limit)
            answers.append(hand_over(reopened, [event_id]))
            reopened.close()
        assert answers == [hand_over(in_memory, [i]) for i in ids]


def test_a_restarted_client_drops_what_it_confirmed_and_gets_back_what_it_only_held(
    tmp_path: Path,
) -> None:
    path = tmp_path / "seen.sqlite"
    kept, returned_only = uuid.uuid4(), uuid.uuid4()
    first = SeenEvents(path)
    first.confirm([kept])
    first.hold([returned_only])
    assert first.seen(returned_only)  # held: dropped while this client runs
    first.close()  # a crash before the application committed
    again = SeenEvents(path)
    assert again.seen(kept)
    assert not again.seen(returned_only)  # it may not have been kept: it comes back
    again.hold([returned_only])
    again.confirm()  # the application's commit confirms what it held
    again.close()
    assert SeenEvents(path).seen(returned_only)


def test_the_memory_store_forgets_the_oldest_past_its_limit() -> None:
    seen = SeenEvents(limit=3)
    ids = [uuid.uuid4() for _ in range(4)]
    seen.confirm(ids)
    assert len(seen) == 3
    assert not seen.seen(ids[0])
    assert seen.seen(ids[3])


def rows(path: Path) -> int:
    """Ids in the file, counted without the store (which trims when it opens)."""
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])


def test_a_running_client_trims_its_file_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    seen = SeenEvents(path, limit=500)
    ids = [uuid.uuid4() for _ in range(seen_events.TRIM_EVERY + 10)]
    for event_id in ids:
        seen.confirm([event_id])
        seen.confirm([event_id])  # a redelivery confirmed again uses up nothing
    assert rows(path) <= 500 + 10  # trimmed when the count crossed TRIM_EVERY, not at open
    assert seen.seen(ids[-1])
    assert not SeenEvents(path, limit=500).seen(ids[1])  # the oldest went first


def test_a_client_that_restarts_often_still_keeps_its_file_bounded(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    for _ in range(5):
        run = SeenEvents(path, limit=100)
        run.confirm([uuid.uuid4() for _ in range(150)])
        run.close()
    assert len(SeenEvents(path, limit=100)) == 100


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SeenEvents(limit=0)
