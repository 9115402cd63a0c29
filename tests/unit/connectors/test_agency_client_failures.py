"""What the Kafka agency client does when something fails mid-receive (a stand-in consumer:
the broker paths are tested in tests/integration/test_agency_client.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from flow_helpers import codec, events_for, fresh

import connectors.client.seen_events as seen_events
from connectors.client import AgencyClient
from hub.contracts.events import PermitRequested
from hub.runtime.settings import HubSettings

TP = TopicPartition("nrm.inbox.prefecture-93", 0)


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    import uuid

    case_id = uuid.uuid4()
    value = codec().encode_event(fresh(events_for(case_id)[PermitRequested], case_id))
    return ConsumerRecord(
        TP.topic, TP.partition, offset, 0, 0, str(case_id).encode(), value, None, 36, len(value), ()
    )


class StandInConsumer:
    """Answers ``getmany`` and ``commit`` from scripts: a batch, or an exception to raise."""

    def __init__(self, fetches: list[Any], commits: list[BaseException | None] | None = None):
        self.fetches = deque(fetches)
        self.commits = deque(commits or [])
        self.committed = 0

    async def getmany(self, *_args: Any, **_kwargs: Any) -> dict[Any, Any]:
        step = self.fetches.popleft() if self.fetches else []
        if isinstance(step, BaseException):
            raise step
        return {TP: step} if step else {}

    async def commit(self) -> None:
        outcome = self.commits.popleft() if self.commits else None
        if outcome is not None:
            raise outcome
        self.committed += 1

    async def stop(self) -> None:
        return None


class NoPacer:
    async def after_fetch(self, *_args: Any) -> None:
        return None


def client(consumer: StandInConsumer, seen_path: Path | None = None) -> AgencyClient:
    made = AgencyClient(
        HubSettings(),
        "prefecture-93",
        None,  # type: ignore[arg-type]  # receives only: never signs
        codec(),
        None,
        seen_path=seen_path,
    )
    made._consumer = consumer  # type: ignore[assignment]
    made._pacer = NoPacer()  # type: ignore[assignment]
    return made


async def test_a_failure_after_messages_were_read_keeps_them_for_the_next_call() -> None:
    first = record(0)
    reader = client(StandInConsumer([[first], RuntimeError("boom"), []]))
    with pytest.raises(RuntimeError):
        await reader.receive(expected=2, timeout_s=1.0)
    again = await reader.receive(expected=1, timeout_s=0.2)
    assert [m.offset for m in again] == [0]


async def test_a_receive_cancelled_in_its_commit_confirms_nothing(tmp_path: Path) -> None:
    first = record(0)
    path = tmp_path / "seen.sqlite"
    reader = client(StandInConsumer([[first]], commits=[asyncio.CancelledError()]), path)
    with pytest.raises(asyncio.CancelledError):
        await reader.receive(expected=1, timeout_s=1.0)
    await reader.stop()
    # Restarted: the broker redelivers it (nothing was committed) and it is yielded.
    restarted = client(StandInConsumer([[first]]), path)
    assert [m.offset for m in await restarted.receive(expected=1, timeout_s=1.0)] == [0]
    assert restarted.redelivered == 0


async def test_a_seen_file_that_cannot_be_written_still_returns_the_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = record(0)
    reader = client(StandInConsumer([[first], [first], []]), tmp_path / "seen.sqlite")

    def locked(*_args: Any, **_kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    with monkeypatch.context() as patch:
        patch.setattr(seen_events.SeenEvents, "confirm", locked)
        assert [m.offset for m in await reader.receive(expected=1, timeout_s=1.0)] == [0]
    assert await reader.receive(expected=1, timeout_s=0.3) == []  # held: the copy is dropped
    assert reader.redelivered == 1
    reader._seen.confirm()  # the next confirm writes what stayed held
    await reader.stop()
    assert seen_events.SeenEvents(tmp_path / "seen.sqlite").seen(first_id(first))


async def test_an_unreadable_record_is_rejected_and_the_next_one_read() -> None:
    good = record(1)
    bad = ConsumerRecord(TP.topic, 0, 0, 0, 0, b"k", b"\x00garbage", None, 1, 8, ())
    reader = client(StandInConsumer([[bad, good]]))
    got = await reader.receive(expected=1, timeout_s=1.0)
    assert [m.offset for m in got] == [1]
    assert [r[:3] for r in reader.rejected] == ["0@0"]


def first_id(rec: ConsumerRecord[bytes, bytes]) -> Any:
    return codec().decode_event(rec.value or b"").envelope.event_id  # type: ignore[attr-defined]
