"""The partitions a routing worker owns, kept right across consumer-group rebalances.

Range assignment gives a worker partition p of every outbox and of the case-state changelog
together. On revocation the states and deadlines of the lost partitions are forgotten (another
worker may change them meanwhile); on assignment the new ones are rebuilt from the changelog
before anything of theirs is processed (``settled``).
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from agents.hooks import RouterHooks
from agents.io.broker_watch import BrokerWatch
from agents.io.case_store import CaseStore
from hub.flow.deadline_index import PartitionedDeadlines

log = structlog.get_logger(__name__)


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """The owned partitions' case states and deadlines; the consumer's rebalance listener."""

    def __init__(
        self,
        store: CaseStore,
        deadlines: PartitionedDeadlines,
        watch: BrokerWatch,
        hooks: RouterHooks,
    ) -> None:
        self.store = store
        self.deadlines = deadlines
        self.watch = watch
        self.hooks = hooks
        self.owned: frozenset[int] = frozenset()
        """The partitions the group assigned to this worker (none after a rebalance that left
        it nothing, e.g. a broker restarted without topics): readiness needs some."""
        self.ready = asyncio.Event()
        """Set once the first assignment is rebuilt."""
        self.settled = asyncio.Event()
        """Set while the assignment's states are rebuilt: nothing is processed otherwise."""
        self.batch_lock = asyncio.Lock()
        """Held by a batch or a tick in flight: a revocation waits for its states."""

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Stop processing, then forget the revoked partitions once the batch is written."""
        # aiokafka may hand out fetched records while the assignment callback still runs:
        # nothing is processed until the states of the new assignment are rebuilt.
        self.settled.clear()
        # Wait for the batch in flight: its states are written before they are forgotten.
        async with self.batch_lock:
            self.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Rebuild the newly assigned partitions."""
        await self.assigned({tp.partition for tp in assigned})

    def revoked(self, partitions: set[int]) -> None:
        """Forget the states and deadlines of revoked partitions: if they come back, another
        worker may have changed them meanwhile, so they are rebuilt from the changelog."""
        self.owned = self.owned - partitions
        self.store.retain(self.store.partitions - partitions)
        for partition in partitions & self.deadlines.owned:
            self.deadlines.revoke(partition)
        log.info("router.revoked", partitions=sorted(partitions))

    async def assigned(self, partitions: set[int]) -> None:
        """Rebuild the states of newly owned partitions before processing them."""
        new = partitions - self.store.partitions
        await self.store.recover(new)
        self.store.retain(partitions)
        for partition in self.deadlines.owned - partitions:
            self.deadlines.revoke(partition)
        for partition in new:
            self.deadlines.assign(
                partition,
                [d for state in self.store.states(partition) for d in state.open_deadlines()],
            )
        self.owned = frozenset(partitions)
        self.settled.set()
        self.watch.answered()  # the group coordinator did
        self.hooks.rebalanced(partitions)
        log.info("router.assigned", partitions=sorted(partitions), cases=self.store.count())
        self.ready.set()
