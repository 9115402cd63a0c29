"""The clients' memory of event ids already handed over."""

from __future__ import annotations

import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.client.seen_events import TRIM_EVERY, SeenEvents

IDS = st.lists(st.sampled_from([uuid.UUID(int=n) for n in range(20)]), max_size=60)


@given(IDS)
def test_only_the_first_copy_of_an_event_id_is_new(ids: list[uuid.UUID]) -> None:
    seen = SeenEvents()
    assert [seen.first_time(i) for i in ids] == [i not in ids[:n] for n, i in enumerate(ids)]


@settings(max_examples=25, deadline=None)
@given(IDS)
def test_the_file_store_answers_as_the_memory_store(ids: list[uuid.UUID]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        on_disk = SeenEvents(Path(folder) / "seen.sqlite")
        memory = SeenEvents()
        assert [on_disk.first_time(i) for i in ids] == [memory.first_time(i) for i in ids]
        on_disk.close()


def test_a_restarted_client_remembers_what_it_handed_over(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    event = uuid.uuid4()
    first = SeenEvents(path)
    assert first.first_time(event)
    first.close()
    again = SeenEvents(path)
    assert not again.first_time(event)
    assert again.first_time(uuid.uuid4())


def test_the_memory_store_forgets_the_oldest_past_its_limit() -> None:
    seen = SeenEvents(limit=3)
    ids = [uuid.uuid4() for _ in range(4)]
    assert all(seen.first_time(i) for i in ids)
    assert len(seen) == 3
    assert seen.first_time(ids[0])  # forgotten
    assert not seen.first_time(ids[3])


def test_the_file_store_is_trimmed_to_its_limit(tmp_path: Path) -> None:
    seen = SeenEvents(tmp_path / "seen.sqlite", limit=10)
    ids = [uuid.uuid4() for _ in range(TRIM_EVERY)]
    for event in ids:
        seen.first_time(event)
    assert len(seen) == 10
    assert not seen.first_time(ids[-1])
    assert seen.first_time(ids[0])
