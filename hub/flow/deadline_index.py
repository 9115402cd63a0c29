"""The open deadlines a worker keeps in memory, per owned partition, ordered by time.

A ``DeadlineIndex`` holds one partition's open deadlines by id (and by request and
recipient, to find the deadline an acknowledgement answers) plus a binary heap of
``(next step instant, deadline id)``. ``pop_due(now)`` only looks at the heap's top, so a
tick costs O((due + stale) · log n), never O(open): a worker with a million open deadlines
and nothing due does one comparison. Entries are never searched for: replacing or removing
a deadline leaves its old heap entry behind (lazy deletion), recognised as stale when it
surfaces because it no longer matches the deadline's next instant; the heap is rebuilt when
stale entries outnumber live ones, so memory stays proportional to the open deadlines.

``PartitionedDeadlines`` is the worker's view: one index per partition it owns, built from
the changelog on assignment (``assign``) and dropped whole on revocation (``revoke``), so a
worker only ever fires its own partitions.

Crash safety is the caller's order of work: write a tick's escalations, then the updated
deadlines to the changelog. A worker killed in between fires those steps again after the
restart with the same event ids (``hub.rules.deadlines.ladder.step_event_id``), which
downstream drops.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final
from uuid import UUID

from hub.rules.deadlines.ladder import Advance, advance
from hub.rules.deadlines.open_deadline import OpenDeadline

_COMPACT_SLACK: Final = 1024
"""Stale heap entries tolerated beyond the live ones before the heap is rebuilt."""


class DeadlineIndex:
    """One partition's open deadlines: by id, by (request, recipient), and by next instant."""

    __slots__ = ("_by_id", "_by_request", "_heap", "_scheduled", "visited")

    def __init__(self) -> None:
        """An empty index (``restore`` builds one from a snapshot in linear time)."""
        self._by_id: dict[UUID, OpenDeadline] = {}
        self._by_request: dict[tuple[UUID, str], UUID] = {}
        self._heap: list[tuple[datetime, UUID]] = []
        self._scheduled = 0  # deadlines in _by_id that have a next instant
        self.visited = 0
        """Heap entries the last ``pop_due`` examined (due ones plus stale ones)."""

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, deadline_id: object) -> bool:
        return deadline_id in self._by_id

    def __iter__(self) -> Iterator[OpenDeadline]:
        return iter(self._by_id.values())

    @property
    def heap_size(self) -> int:
        """Entries in the time index, stale ones included (for tests and metrics)."""
        return len(self._heap)

    def get(self, deadline_id: UUID) -> OpenDeadline | None:
        """The open deadline with this id."""
        return self._by_id.get(deadline_id)

    def find(self, request_id: UUID, recipient_agency: str) -> OpenDeadline | None:
        """The open deadline of ``request_id`` at ``recipient_agency`` (what an ack answers)."""
        deadline_id = self._by_request.get((request_id, recipient_agency))
        return None if deadline_id is None else self._by_id.get(deadline_id)

    def add(self, deadline: OpenDeadline) -> None:
        """Insert or replace ``deadline`` (O(log n)). A deadline past its last step is kept
        (still answerable and listed as overdue) but has no place in the time index."""
        old = self._by_id.get(deadline.deadline_id)
        self._by_id[deadline.deadline_id] = deadline
        self._by_request[(deadline.request_id, deadline.recipient_agency)] = deadline.deadline_id
        next_at = deadline.next_at
        old_at = None if old is None else old.next_at
        self._scheduled += (next_at is not None) - (old_at is not None)
        # An unchanged instant keeps its live entry; a changed one leaves the old entry stale.
        if next_at is not None and next_at != old_at:
            heapq.heappush(self._heap, (next_at, deadline.deadline_id))
            self._maybe_compact()

    def remove(self, deadline_id: UUID) -> OpenDeadline | None:
        """Remove and return the deadline (closed, re-routed), if present (O(1) amortised)."""
        deadline = self._discard(deadline_id)
        if deadline is not None and deadline.next_at is not None:
            self._maybe_compact()
        return deadline

    def _discard(self, deadline_id: UUID) -> OpenDeadline | None:
        deadline = self._by_id.pop(deadline_id, None)
        if deadline is None:
            return None
        key = (deadline.request_id, deadline.recipient_agency)
        if self._by_request.get(key) == deadline_id:
            del self._by_request[key]
        if deadline.next_at is not None:
            self._scheduled -= 1
        return deadline

    def pop_due(self, now: datetime) -> list[OpenDeadline]:
        """Remove and return the deadlines whose next step is at or before ``now``, earliest
        first. The caller advances each and ``add``s back the ones still open (``tick`` does
        both). Only heap entries at or before ``now`` are examined."""
        due: list[OpenDeadline] = []
        heap = self._heap
        self.visited = 0
        for _ in range(len(heap)):
            if not heap or heap[0][0] > now:
                break
            at, deadline_id = heapq.heappop(heap)
            self.visited += 1
            deadline = self._by_id.get(deadline_id)
            if deadline is None or deadline.next_at != at:
                continue  # stale: closed, replaced, or already popped
            # No compaction here: popping shrinks the heap, and ``heap`` must stay the list.
            self._discard(deadline_id)
            due.append(deadline)
        return due

    def tick(self, now: datetime) -> list[Advance]:
        """Fire what is due at ``now``: pop, ``advance`` and put back each due deadline;
        returns the advances (steps to emit, orphaned needs, deadlines to persist)."""
        advances = [advance(deadline, now) for deadline in self.pop_due(now)]
        for result in advances:
            self.add(result.deadline)
        return advances

    def next_due_at(self) -> datetime | None:
        """When the next step of this partition fires (None if nothing is scheduled); drops
        stale entries from the top on the way."""
        heap = self._heap
        for _ in range(len(heap)):
            at, deadline_id = heap[0]
            deadline = self._by_id.get(deadline_id)
            if deadline is not None and deadline.next_at == at:
                return at
            heapq.heappop(heap)
        return None

    def snapshot(self) -> tuple[OpenDeadline, ...]:
        """Every open deadline (immutable values; ``restore`` rebuilds an equal index)."""
        return tuple(self._by_id.values())

    @classmethod
    def restore(cls, deadlines: Iterable[OpenDeadline]) -> DeadlineIndex:
        """An index holding ``deadlines`` (from a snapshot or a changelog), built in O(n);
        a later deadline with the same id replaces an earlier one."""
        index = cls()
        for deadline in deadlines:
            index._by_id[deadline.deadline_id] = deadline
        index._rebuild()
        return index

    def _maybe_compact(self) -> None:
        if len(self._heap) > 2 * self._scheduled + _COMPACT_SLACK:
            self._rebuild()

    def _rebuild(self) -> None:
        self._by_request = {(d.request_id, d.recipient_agency): i for i, d in self._by_id.items()}
        self._heap = [(d.next_at, i) for i, d in self._by_id.items() if d.next_at is not None]
        heapq.heapify(self._heap)
        self._scheduled = len(self._heap)


class PartitionedDeadlines:
    """The open deadlines of the partitions this worker owns, one index per partition."""

    __slots__ = ("_partitions",)

    def __init__(self) -> None:
        """No partition owned yet."""
        self._partitions: dict[int, DeadlineIndex] = {}

    def __len__(self) -> int:
        return sum(len(index) for index in self._partitions.values())

    def __iter__(self) -> Iterator[OpenDeadline]:
        for index in self._partitions.values():
            yield from index

    @property
    def owned(self) -> frozenset[int]:
        """The partitions this worker currently owns."""
        return frozenset(self._partitions)

    def assign(self, partition: int, deadlines: Iterable[OpenDeadline]) -> DeadlineIndex:
        """Own ``partition`` with the deadlines recovered from its changelog (replaces any
        index already held for it)."""
        index = DeadlineIndex.restore(deadlines)
        self._partitions[partition] = index
        return index

    def revoke(self, partition: int) -> int:
        """Stop owning ``partition``: drop its deadlines (the next owner rebuilds them);
        returns how many were dropped."""
        index = self._partitions.pop(partition, None)
        return 0 if index is None else len(index)

    def index(self, partition: int) -> DeadlineIndex:
        """The index of an owned partition (KeyError naming it if not owned)."""
        try:
            return self._partitions[partition]
        except KeyError:
            raise KeyError(f"partition {partition} is not owned by this worker") from None

    def add(self, partition: int, deadline: OpenDeadline) -> None:
        """Insert or replace ``deadline`` in an owned partition."""
        self.index(partition).add(deadline)

    def remove(self, partition: int, deadline_id: UUID) -> OpenDeadline | None:
        """Remove a deadline from an owned partition."""
        return self.index(partition).remove(deadline_id)

    def find(self, partition: int, request_id: UUID, recipient: str) -> OpenDeadline | None:
        """The open deadline of ``request_id`` at ``recipient`` in an owned partition."""
        return self.index(partition).find(request_id, recipient)

    def tick(self, now: datetime) -> list[tuple[int, Advance]]:
        """``DeadlineIndex.tick`` on every owned partition: O(partitions + due · log n)."""
        return [(p, result) for p, index in self._partitions.items() for result in index.tick(now)]

    def next_due_at(self) -> datetime | None:
        """The earliest next step over the owned partitions (when to wake up next)."""
        instants = (index.next_due_at() for index in self._partitions.values())
        return min((at for at in instants if at is not None), default=None)
