"""The prefecture's work queue acts on the hub's erasure notices (RGPD art. 19, issue 23).

An ERASED notice comes only when the hub found no legal hold (no permit decision pending):
the queue wipes the person's names and reference for that case, closes its open requests,
and a thief reading the file's bytes afterwards finds neither name (SQLite's freed pages are
overwritten). Other cases are untouched; a restriction or its lifting is recorded, nothing
wiped; a notice delivered twice acts once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from connectors.prefecture.queue import CLOSED, ERASED, ERASED_REF, Answer, WorkQueue
from hub.contracts.enums import ErasureOutcome

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def add(queue: WorkQueue, case_id: uuid.UUID, first: str, last: str) -> uuid.UUID:
    request_id = uuid.uuid4()
    queue.add(
        request_id=request_id,
        case_id=case_id,
        event_id=uuid.uuid4(),
        departement="93",
        permit_type="TEMPORARY_RESIDENCE_L425_1",
        person_ref=f"P-{last}",
        now=NOW,
        first_name=first,
        last_name=last,
    )
    return request_id


def notice(
    queue: WorkQueue,
    case_id: uuid.UUID,
    outcome: ErasureOutcome,
    notice_id: uuid.UUID | None = None,
    holds: tuple[str, ...] = (),
) -> int:
    return queue.apply_notice(
        notice_id=notice_id or uuid.uuid4(),
        case_id=case_id,
        outcome=outcome,
        holds=holds,
        now=NOW,
    )


def test_an_erasure_notice_wipes_the_case_from_the_queue_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    erased_case, other_case = uuid.uuid4(), uuid.uuid4()
    with WorkQueue(path) as queue:
        open_request = add(queue, erased_case, "Zelinda", "Okonkwoerase")
        decided = add(queue, erased_case, "Zelinda", "Okonkwoerase")
        queue.answer(decided, Answer.GRANTED, NOW)
        kept = add(queue, other_case, "Amina", "Diallokept")
        assert b"Okonkwoerase" in path.read_bytes()
        assert notice(queue, erased_case, ErasureOutcome.ERASED) == 2
        for request_id, state in ((open_request, ERASED), (decided, CLOSED)):
            item = queue.get(request_id)
            assert item is not None
            assert (item.first_name, item.last_name, item.person_ref) == (None, None, ERASED_REF)
            assert item.state == state
        assert [i.request_id for i in queue.pending()] == [kept]
        other = queue.get(kept)
        assert other is not None
        assert other.last_name == "Diallokept"
    content = path.read_bytes()
    assert b"Okonkwoerase" not in content
    assert b"Zelinda" not in content
    assert b"Diallokept" in content


def test_a_restriction_and_its_lifting_are_recorded_and_wipe_nothing(tmp_path: Path) -> None:
    case_id = uuid.uuid4()
    with WorkQueue(tmp_path / "queue.sqlite") as queue:
        request_id = add(queue, case_id, "Amina", "Diallo")
        assert notice(queue, case_id, ErasureOutcome.RESTRICTED, holds=("X",)) == 0
        assert notice(queue, case_id, ErasureOutcome.RESTRICTION_LIFTED) == 0
        item = queue.get(request_id)
        assert item is not None
        assert item.last_name == "Diallo"
        assert queue.notices(case_id) == [
            (ErasureOutcome.RESTRICTED, ("X",)),
            (ErasureOutcome.RESTRICTION_LIFTED, ()),
        ]


def test_a_notice_delivered_twice_acts_once(tmp_path: Path) -> None:
    case_id, notice_id = uuid.uuid4(), uuid.uuid4()
    with WorkQueue(tmp_path / "queue.sqlite") as queue:
        add(queue, case_id, "Amina", "Diallo")
        assert notice(queue, case_id, ErasureOutcome.ERASED, notice_id) == 1
        assert notice(queue, case_id, ErasureOutcome.ERASED, notice_id) == 0
        assert len(queue.notices(case_id)) == 1
