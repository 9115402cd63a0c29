"""The per-partition time index of open deadlines: a tick touches only what is due."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from hub.contracts.enums import AgencyRole, EscalationStep, Urgency
from hub.flow.deadline_index import DeadlineIndex, PartitionedDeadlines
from hub.rules.deadlines.open_deadline import OpenDeadline, deadline_id_for

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
STEPS = (EscalationStep.REMINDER, EscalationStep.SUPERVISOR, EscalationStep.NATIONAL_COORDINATION)


def make(i: int, due_at: datetime, *, recipient: str = "hebergement-93") -> OpenDeadline:
    """Deadline number ``i``: reminder at ``due_at``, then +1 day, then +2 days."""
    request_id = UUID(int=i + 1)
    return OpenDeadline(
        deadline_id=deadline_id_for(request_id, recipient, 0),
        case_id=UUID(int=10**9 + i),
        request_id=request_id,
        recipient_agency=recipient,
        recipient_role=AgencyRole.ACCOMMODATION_PROVIDER,
        message_type="fr.nrm.AccommodationRequested",
        departement="93",
        minor=False,
        urgency=Urgency.ROUTINE,
        opened_at=due_at - timedelta(days=2),
        due_at=due_at,
        steps=STEPS,
        step_at=(due_at, due_at + timedelta(days=1), due_at + timedelta(days=2)),
    )


def future(i: int) -> datetime:
    return T0 + timedelta(days=1, minutes=i)


class CountingClock(datetime):
    """A ``now`` that counts how often it is compared (the index compares heap tops to it)."""

    comparisons = 0

    def __lt__(self, other: Any) -> bool:
        CountingClock.comparisons += 1
        return datetime.__lt__(self, other)

    def __gt__(self, other: Any) -> bool:
        CountingClock.comparisons += 1
        return datetime.__gt__(self, other)


def counting(now: datetime) -> CountingClock:
    CountingClock.comparisons = 0
    return CountingClock(now.year, now.month, now.day, now.hour, now.minute, tzinfo=UTC)


# ---------------------------------------------------------------------- cost of a tick


def test_pop_due_touches_only_the_due_deadlines_among_many_open() -> None:
    overdue = [make(i, T0 - timedelta(minutes=i)) for i in range(5)]
    index = DeadlineIndex.restore([*overdue, *(make(i, future(i)) for i in range(5, 20_005))])
    now = counting(T0)
    popped = index.pop_due(now)
    assert {d.deadline_id for d in popped} == {d.deadline_id for d in overdue}
    assert [d.next_at for d in popped] == sorted(d.due_at for d in overdue)
    assert index.visited == 5
    assert CountingClock.comparisons <= 5 + 1  # one per due entry, one to stop
    assert len(index) == 20_000  # popped ones are out until the caller puts them back


def test_a_tick_with_nothing_due_compares_once_whatever_the_open_count() -> None:
    index = DeadlineIndex.restore(make(i, future(i)) for i in range(20_000))
    assert index.tick(counting(T0)) == []
    assert index.visited == 0
    assert CountingClock.comparisons == 1


def test_tick_fires_and_reschedules_each_due_deadline() -> None:
    index = DeadlineIndex.restore([make(0, T0), make(1, future(1))])
    (result,) = index.tick(T0)
    assert [s.step for s in result.steps] == [EscalationStep.REMINDER]
    assert index.get(result.deadline.deadline_id) == result.deadline
    assert index.next_due_at() == T0 + timedelta(days=1)  # its supervisor step, before #1
    assert index.tick(T0 + timedelta(hours=1)) == []
    assert [r.steps[0].step for r in index.tick(T0 + timedelta(days=1))] == [
        EscalationStep.SUPERVISOR
    ]


def test_closed_deadlines_leave_stale_entries_that_are_skipped_then_compacted() -> None:
    index = DeadlineIndex.restore(make(i, T0 + timedelta(seconds=i)) for i in range(4000))
    closed = [make(i, T0).deadline_id for i in range(3500)]
    for deadline_id in closed:
        assert index.remove(deadline_id) is not None
    assert len(index) == 500
    assert index.heap_size <= 2 * 500 + 1024  # rebuilt instead of growing without bound
    popped = index.pop_due(T0 + timedelta(hours=2))
    assert len(popped) == 500
    assert not set(closed) & {d.deadline_id for d in popped}


def test_moving_a_deadline_later_leaves_nothing_due_at_its_old_instant() -> None:
    index = DeadlineIndex()
    index.add(make(0, T0))
    index.add(make(0, T0 + timedelta(days=3)))  # same id, extended
    assert index.pop_due(T0 + timedelta(hours=1)) == []
    assert index.visited == 1  # the stale entry, discarded
    assert len(index.pop_due(T0 + timedelta(days=3))) == 1


def test_adding_the_same_deadline_twice_schedules_it_once() -> None:
    index = DeadlineIndex()
    index.add(make(0, T0))
    index.add(make(0, T0))
    assert index.heap_size == 1
    assert len(index.pop_due(T0)) == 1
    assert index.pop_due(T0) == []


def test_a_deadline_past_its_last_step_stays_findable_but_is_never_scheduled() -> None:
    exhausted = replace(make(0, T0), next_step=3)
    index = DeadlineIndex()
    index.add(exhausted)
    assert index.find(exhausted.request_id, "hebergement-93") == exhausted
    assert index.heap_size == 0
    assert index.next_due_at() is None
    assert index.pop_due(T0 + timedelta(days=365)) == []


def test_find_answers_which_deadline_an_acknowledgement_is_for() -> None:
    first = make(0, T0, recipient="hebergement-93")
    index = DeadlineIndex.restore([first])
    assert index.find(first.request_id, "hebergement-93") == first
    assert index.find(first.request_id, "hebergement-75") is None
    index.remove(first.deadline_id)
    assert index.find(first.request_id, "hebergement-93") is None


# --------------------------------------------------------------- snapshots and restarts


def mixed_index() -> DeadlineIndex:
    index = DeadlineIndex()
    for i in range(50):
        deadline = make(i, T0 + timedelta(hours=i - 25))
        index.add(replace(deadline, next_step=3) if i % 10 == 0 else deadline)
    return index


def test_snapshot_and_restore_round_trip() -> None:
    original = mixed_index()
    restored = DeadlineIndex.restore(original.snapshot())
    assert set(restored.snapshot()) == set(original.snapshot())
    assert restored.next_due_at() == original.next_due_at()
    now = T0 + timedelta(hours=10)
    assert restored.pop_due(now) == original.pop_due(now)


def test_restore_from_a_json_changelog_keeps_the_latest_record_per_deadline() -> None:
    older = make(7, T0)
    newer = replace(older, next_step=1)
    changelog = [json.dumps(d.to_dict()) for d in (older, make(8, T0), newer)]
    index = DeadlineIndex.restore(OpenDeadline.from_dict(json.loads(r)) for r in changelog)
    assert len(index) == 2
    assert index.get(older.deadline_id) == newer
    assert index.next_due_at() == T0  # deadline 8's reminder; 7's reminder already fired


def test_a_worker_killed_before_saving_fires_each_step_once_downstream() -> None:
    index = DeadlineIndex.restore(make(i, T0 - timedelta(minutes=i)) for i in range(10))
    changelog = {d.deadline_id: d.to_dict() for d in index.snapshot()}
    delivered: dict[UUID, int] = {}
    for result in index.tick(T0):  # steps written, then the worker dies: changelog not saved
        for step in result.steps:
            delivered[step.event_id] = delivered.get(step.event_id, 0) + 1
    restarted = DeadlineIndex.restore(OpenDeadline.from_dict(r) for r in changelog.values())
    for result in restarted.tick(T0 + timedelta(minutes=5)):
        for step in result.steps:
            delivered[step.event_id] = delivered.get(step.event_id, 0) + 1
        changelog[result.deadline.deadline_id] = result.deadline.to_dict()
    assert len(delivered) == 10  # ten reminders, no more, no fewer
    assert set(delivered.values()) == {2}  # each sent twice with one event id: deduplicated
    assert restarted.tick(T0 + timedelta(minutes=10)) == []


# ------------------------------------------------------------------------- partitions


def test_a_worker_fires_only_the_partitions_it_owns_and_drops_revoked_ones() -> None:
    worker = PartitionedDeadlines()
    worker.assign(0, [make(0, T0), make(1, future(1))])
    worker.assign(3, [make(2, T0), make(3, T0)])
    assert worker.owned == frozenset({0, 3})
    assert len(worker) == 4
    assert worker.revoke(3) == 2
    assert worker.revoke(3) == 0
    fired = worker.tick(T0)
    assert [(p, r.deadline.request_id) for p, r in fired] == [(0, UUID(int=1))]
    assert len(worker) == 2
    assert worker.next_due_at() == T0 + timedelta(days=1)


def test_an_unowned_partition_is_refused() -> None:
    worker = PartitionedDeadlines()
    worker.assign(1, [])
    worker.add(1, make(0, T0))
    assert worker.find(1, UUID(int=1), "hebergement-93") is not None
    with pytest.raises(KeyError, match="partition 2 is not owned"):
        worker.add(2, make(1, T0))
    with pytest.raises(KeyError):
        worker.find(2, UUID(int=1), "hebergement-93")


def test_reassigning_a_partition_rebuilds_it_from_the_changelog() -> None:
    worker = PartitionedDeadlines()
    worker.assign(0, [make(0, T0)])
    worker.assign(0, [make(1, T0), make(2, T0)])
    assert len(worker) == 2
    assert worker.remove(0, make(1, T0).deadline_id) is not None
    assert {d.request_id for d in worker} == {UUID(int=3)}
