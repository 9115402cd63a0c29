"""The worker's clock-driven work: due ladder steps and consent holds past their limit.

Between batches the loop asks ``DeadlineTick`` to fire what is due on the partitions it owns;
each outcome goes to the topics through the same path as an inbound event's (``apply``), one
at a time, so a second deadline of the same case sees the state the first one left.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from agents.hooks import RouterHooks
from agents.io.case_store import CaseStore
from agents.io.outbox_writer import Futures
from hub.flow.deadline_flow import expired_holds, on_advance
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import Context, Outcome

HOLD_SCAN_INTERVAL_S = 60.0

Apply = Callable[[int, Outcome, datetime], Awaitable[Futures]]
"""Write a hub-made outcome of one partition, recorded at the given time."""


class DeadlineTick:
    """Fires due deadlines (O(due): the index is time-ordered) and escalates expired holds
    (a scan of the owned cases, at most once a minute)."""

    def __init__(
        self,
        store: CaseStore,
        deadlines: PartitionedDeadlines,
        clock: Callable[[], datetime],
        hooks: RouterHooks,
    ) -> None:
        self.store = store
        self.deadlines = deadlines
        self.clock = clock
        self.hooks = hooks
        self._next_hold_scan = 0.0

    async def fire_due(self, context: Context, apply: Apply) -> Futures:
        """Apply the ladder steps that are due; return the writes in flight."""
        now = self.clock()
        next_due = self.deadlines.next_due_at()
        if next_due is None or next_due > now:
            return []
        futures: Futures = []
        for partition, result in self.deadlines.tick(now):
            state = self.store.get(partition, result.deadline.case_id)
            futures += await apply(partition, on_advance(state, result, context, now), now)
            self.hooks.escalated(len(result.steps))
        return futures

    async def expire_holds(self, context: Context, apply: Apply) -> Futures:
        """Escalate consent holds past the policy's time limit (once each), at most once a
        minute; return the writes in flight."""
        if time.monotonic() < self._next_hold_scan:
            return []
        self._next_hold_scan = time.monotonic() + HOLD_SCAN_INTERVAL_S
        now = self.clock()
        futures: Futures = []
        for partition in sorted(self.store.partitions):
            for state in self.store.states(partition):
                outcome = expired_holds(state, context, now) if state.holds else None
                if outcome is not None:
                    futures += await apply(partition, outcome, now)
        return futures
