"""The prefecture's work queue: receipt, then a decision; nothing after the decision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.prefecture.queue import Answer, QueueError, WorkQueue
from hub.contracts.enums import AckStatus

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[WorkQueue]:
    with WorkQueue(tmp_path / "queue.sqlite") as opened:
        yield opened


def queued(queue: WorkQueue) -> uuid.UUID:
    request_id = uuid.uuid4()
    assert queue.add(
        request_id=request_id,
        case_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        departement="93",
        permit_type="TEMPORARY_RESIDENCE_L425_1",
        person_ref="P-93-1",
        now=NOW,
    )
    return request_id


def state_of(queue: WorkQueue, request_id: uuid.UUID) -> str:
    item = queue.get(request_id)
    assert item is not None
    return item.state


def test_receipt_then_grant(queue: WorkQueue) -> None:
    request_id = queued(queue)
    _item, receipt = queue.answer(request_id, Answer.RECEIPT, NOW)
    assert receipt.status is AckStatus.ACCEPTED
    assert state_of(queue, request_id) == "receipt"
    assert [i.request_id for i in queue.pending()] == [request_id]
    _item, granted = queue.answer(request_id, Answer.GRANTED, NOW)
    assert granted.status is AckStatus.COMPLETED
    assert state_of(queue, request_id) == "closed"
    assert queue.pending() == []


@pytest.mark.parametrize("then", list(Answer))
def test_nothing_after_a_decision(queue: WorkQueue, then: Answer) -> None:
    request_id = queued(queue)
    queue.answer(request_id, Answer.REFUSED, NOW)
    with pytest.raises(QueueError, match="déjà une réponse"):
        queue.answer(request_id, then, NOW)


def test_a_second_receipt_is_refused(queue: WorkQueue) -> None:
    request_id = queued(queue)
    queue.answer(request_id, Answer.RECEIPT, NOW)
    with pytest.raises(QueueError, match="plus possible"):
        queue.answer(request_id, Answer.RECEIPT, NOW)


def test_needs_information_keeps_the_state(queue: WorkQueue) -> None:
    request_id = queued(queue)
    queue.answer(request_id, Answer.NEEDS_INFORMATION, NOW)
    assert state_of(queue, request_id) == "pending"
    queue.answer(request_id, Answer.RECEIPT, NOW)
    queue.answer(request_id, Answer.NEEDS_INFORMATION, NOW)
    assert state_of(queue, request_id) == "receipt"


def test_reopen_restores_the_state_before_the_failed_answer(queue: WorkQueue) -> None:
    request_id = queued(queue)
    queue.answer(request_id, Answer.RECEIPT, NOW)
    queue.answer(request_id, Answer.GRANTED, NOW)
    queue.reopen(request_id)  # publishing the grant failed
    assert state_of(queue, request_id) == "receipt"
    queue.reopen(request_id)  # and the receipt too
    assert state_of(queue, request_id) == "pending"


def test_the_queue_keeps_the_name_the_permit_is_issued_to(queue: WorkQueue) -> None:
    request_id = uuid.uuid4()
    queue.add(
        request_id=request_id,
        case_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        departement="93",
        permit_type="TEMPORARY_RESIDENCE_L425_1",
        person_ref="P-93-2",
        now=NOW,
        first_name="Amina",
        last_name="Diallo",
    )
    item = queue.get(request_id)
    assert item is not None
    assert (item.first_name, item.last_name, item.person) == ("Amina", "Diallo", "DIALLO Amina")
    assert [i.person for i in queue.pending()] == ["DIALLO Amina"]
    assert request_id in queue.request_ids()


def test_without_consent_to_identity_the_name_is_absent_not_invented(queue: WorkQueue) -> None:
    item = queue.get(queued(queue))
    assert item is not None
    assert (item.first_name, item.last_name, item.person) == (None, None, "—")


def test_a_queue_written_before_names_were_kept_still_opens(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE permit_requests (request_id TEXT PRIMARY KEY, case_id TEXT NOT NULL,"
        " event_id TEXT NOT NULL, departement TEXT NOT NULL, permit_type TEXT NOT NULL,"
        " person_ref TEXT NOT NULL, received_at TEXT NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'pending');"
    )
    request_id = uuid.uuid4()
    old.execute(
        "INSERT INTO permit_requests VALUES (?, ?, ?, '93', 'T', 'P-1', ?, 'pending')",
        (str(request_id), str(uuid.uuid4()), str(uuid.uuid4()), NOW.isoformat()),
    )
    old.commit()
    old.close()
    with WorkQueue(path) as queue:
        item = queue.get(request_id)
        assert item is not None
        assert item.person == "—"
        assert queue.answer(request_id, Answer.RECEIPT, NOW)[1].status is AckStatus.ACCEPTED
