"""Case states of the partitions this worker owns, backed by a compacted changelog topic.

The changelog is co-partitioned with the agency outboxes (same partition count, keyed by case
id), so the worker that owns partition p of the outboxes owns the states in partition p of the
changelog. On assignment it rebuilds them by reading the changelog partition up to the fetch
response's high watermark — never up to ``end_offsets()``, which the embedded broker answers
wrongly after batched produces (docs/BROKER.md) — and checks it got there.

Each state's personal data is sealed under its case key (``hub.flow.case_record``): once the
key is destroyed, every version of the state left on the changelog is unreadable.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol
from uuid import UUID

import structlog
from aiokafka import TopicPartition

from agents.io import clients
from agents.io.fetch_pacer import FetchPacer
from hub.audit.key_stores import key_store_for
from hub.audit.keys import KeyStore
from hub.contracts.topics import CASE_STATE
from hub.flow.case_record import Personal, decode_state, encode_state
from hub.flow.case_state import CaseState
from hub.runtime.settings import HubSettings

log = structlog.get_logger(__name__)
RECOVERY_TIMEOUT_S = 120.0
RECOVERY_FETCH_WAIT_MS = 50


class Sender(Protocol):
    """What the case store sends its changelog records with."""

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = ..., partition: int | None = ...
    ) -> asyncio.Future[object]: ...


class RecoveryError(RuntimeError):
    """A changelog partition could not be read to its end in time."""


class CaseStore:
    """States by partition and case id; dirty states are written to the changelog."""

    def __init__(
        self,
        settings: HubSettings,
        topic: str = CASE_STATE.name,
        *,
        key_store: KeyStore | None = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.key_store = key_store or key_store_for(settings)
        self._states: dict[int, dict[UUID, CaseState]] = {}
        self._dirty: dict[UUID, tuple[int, CaseState]] = {}

    @property
    def partitions(self) -> set[int]:
        """Partitions whose states are loaded."""
        return set(self._states)

    def count(self) -> int:
        """How many case states are loaded."""
        return sum(len(states) for states in self._states.values())

    def get(self, partition: int, case_id: UUID) -> CaseState:
        """The state of ``case_id`` (a fresh one for a case not seen before)."""
        states = self._states.setdefault(partition, {})
        return states.get(case_id) or CaseState(case_id=case_id)

    def put(self, partition: int, state: CaseState) -> None:
        """Keep ``state`` and mark it to be written to the changelog."""
        self._states.setdefault(partition, {})[state.case_id] = state
        self._dirty[state.case_id] = (partition, state)

    def states(self, partition: int) -> list[CaseState]:
        """Every loaded state of ``partition``."""
        return list(self._states.get(partition, {}).values())

    def retain(self, partitions: set[int]) -> None:
        """Forget the states of partitions this worker no longer owns."""
        for partition in set(self._states) - partitions:
            del self._states[partition]
            log.info("case_store.released", partition=partition)

    async def flush(self, producer: Sender) -> list[asyncio.Future[object]]:
        """Send every dirty state to the changelog; return the delivery futures. ``producer``:
        the routing worker's ``OutboxWriter``, which holds them until the batch's keys are
        durable (or an ``AIOKafkaProducer``)."""
        futures = [
            await producer.send(
                self.topic,
                encode_state(state, self.key_store),
                key=str(case_id).encode(),
                partition=partition,
            )
            for case_id, (partition, state) in self._dirty.items()
        ]
        self._dirty.clear()
        return futures

    async def recover(self, partitions: set[int]) -> None:
        """Rebuild the states of ``partitions`` from the changelog."""
        for partition in sorted(partitions):
            started = time.monotonic()
            states = await self._read_partition(partition)
            self._states[partition] = states
            log.info(
                "case_store.recovered",
                partition=partition,
                cases=len(states),
                seconds=round(time.monotonic() - started, 3),
            )

    async def _read_partition(self, partition: int) -> dict[UUID, CaseState]:
        tp = TopicPartition(self.topic, partition)
        consumer = clients.assigned_consumer(
            self.settings, fetch_max_wait_ms=RECOVERY_FETCH_WAIT_MS
        )
        pacer = FetchPacer(RECOVERY_FETCH_WAIT_MS)
        await consumer.start()
        states: dict[UUID, CaseState] = {}
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            deadline = time.monotonic() + RECOVERY_TIMEOUT_S
            while True:
                batch = await consumer.getmany(tp, timeout_ms=200)
                await pacer.after_fetch(consumer, len(batch.get(tp, [])))
                for record in batch.get(tp, []):
                    if record.value is None:  # a tombstone: the case's state is gone
                        gone = _case_of_key(record.key)
                        if gone is not None:
                            states.pop(gone, None)
                        continue
                    stored = decode_state(record.value, self.key_store)
                    if stored.personal is Personal.UNREADABLE:
                        log.warning(
                            "case_store.personal_data_unreadable",
                            case_id=str(stored.state.case_id),
                            partition=partition,
                            offset=record.offset,
                        )
                    states[stored.state.case_id] = stored.state
                highwater = consumer.highwater(tp)
                if highwater is not None and await consumer.position(tp) >= highwater:
                    return states
                if time.monotonic() > deadline:
                    raise RecoveryError(
                        f"{self.topic}[{partition}] not read to its end in {RECOVERY_TIMEOUT_S}s"
                    )
        finally:
            await consumer.stop()


async def read_all_states(
    settings: HubSettings, topic: str = CASE_STATE.name, *, key_store: KeyStore | None = None
) -> list[CaseState]:
    """The latest state of every case, read from the whole changelog (for operators' tools),
    unsealed with ``key_store`` (default: the hub's configured store, ``HUB_KEY_STORE``).

    O(cases): fine for ``hub overdue`` and the dashboard's refresh, never on the routing path.
    The changelog has the partition count its declaration gives
    (``hub.contracts.topics.CASE_STATE``).
    """
    store = CaseStore(settings, topic, key_store=key_store)
    partitions = set(range(CASE_STATE.partitions))
    await store.recover(partitions)
    return [state for partition in sorted(partitions) for state in store.states(partition)]


def _case_of_key(key: bytes | None) -> UUID | None:
    try:
        return UUID((key or b"").decode("ascii"))
    except ValueError:
        return None


async def read_case(
    settings: HubSettings, case_id: UUID, *, key_store: KeyStore | None = None
) -> CaseState | None:
    """The latest state of one case: reads only its partition of the changelog."""
    from hub.contracts.partitioning import case_partition

    partition = case_partition(case_id, CASE_STATE.partitions)
    store = CaseStore(settings, key_store=key_store)
    await store.recover({partition})
    return next((s for s in store.states(partition) if s.case_id == case_id), None)
