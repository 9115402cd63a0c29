"""The routing worker: outboxes in, inbox projections, dead letters and audit entries out.

One loop, batch by batch: read a batch from every agency outbox (one consumer group, range
assignment, so partition p of every outbox — and of the case-state changelog — belongs to the
same worker), ingest each record (``hub.flow.ingest``: re-drive, signature, decoding), let
``hub.flow.case_flow.handle`` decide, write what it decided through the one ``OutboxWriter``,
write the changed case states, wait for every write to be acknowledged, then commit the input
offsets. A crash anywhere replays the batch; event ids make the replay harmless
(at-least-once, idempotent handling). Between batches ``DeadlineTick`` fires what is due;
rebalances are ``Ownership``'s; counting is the hooks' (``agents.hooks``).

The loop is plain aiokafka rather than a Faust agent: Faust's per-event path tops out near
4k msgs/s on this machine, far below the broker (docs/DECISIONS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, UnknownError
from aiokafka.structs import ConsumerRecord, TopicPartition

from agents.deadline_tick import DeadlineTick
from agents.fetch_watch import FetchWatch, consumer_lag
from agents.hooks import HookChain, RouterHooks
from agents.io import clients
from agents.io.broker_watch import BrokerWatch
from agents.io.case_store import RECOVERY_TIMEOUT_S, CaseStore
from agents.io.fetch_pacer import FetchPacer
from agents.io.outbox_writer import Futures, OutboxWriter
from agents.io.records import raw_record
from agents.outcome_sink import OutcomeSink
from agents.rebalance import Ownership
from agents.refusal_notifier import RefusalNotifier
from agents.router_parts import RouterParts
from agents.stats import RouterStats
from hub.contracts.enums import DeadLetterReason
from hub.contracts.topics import ERASURE, OUTBOX_PREFIX, REDRIVE
from hub.flow.case_flow import handle
from hub.flow.dead_letters import (
    dead_letter,
    rejected_letter,
)
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import Context, Inbound
from hub.flow.ingest import (
    RawRecord,
    Rejected,
    Unreadable,
    ingest,
    raw_of,
)
from hub.rules.notice_budget import NoticePolicy
from hub.runtime.clock import Clock, business_instant, wall_clock
from hub.runtime.settings import HubSettings

log = structlog.get_logger(__name__)
OUTBOX_PATTERN = "|".join(
    (
        "^" + OUTBOX_PREFIX.replace(".", r"\.") + ".+",
        "^" + REDRIVE.name.replace(".", r"\.") + "$",
        "^" + ERASURE.name.replace(".", r"\.") + "$",
    )
)
GROUP_ID = "nrm-router"
UNKNOWN_SOURCE_PARTITIONS = 4
"""A re-driven record's topic the consumer does not know: the hub's default partition count."""
T = TypeVar("T")

BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0
GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (CPython's default: 700). The worker
allocates many short-lived objects per event (models, dicts, encodings) and keeps every owned
case state: at 700 the collector ran every few events and took ~6 % of the worker's time
(docs/BENCHMARKS.md). Only when collections run changes; what they free does not.
``start`` then collects once and freezes what start-up made (modules, schemas, validators,
the directory), as the gateway does: it is never garbage, and the worker's full collection
walked it again (measured with ``gc.callbacks`` over 2,000 referrals: 0.18–0.34 s of full
collection before, 0.11–0.13 s after)."""


def is_retriable(exc: BaseException) -> bool:
    """A broker error the worker waits out: retriable Kafka errors, the broker's unknown error
    (``-1``, e.g. Tansu while topics come back), lost connections and timeouts."""
    if isinstance(exc, UnknownError | OSError | TimeoutError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


class Router:
    """The routing worker of one process."""

    def __init__(
        self,
        settings: HubSettings,
        parts: RouterParts,
        *,
        clock: Clock = wall_clock,
        group_id: str = GROUP_ID,
        max_batch: int = 500,
        hooks: Sequence[RouterHooks] = (),
    ) -> None:
        self.settings = settings
        self.parts = parts
        self.codec = parts.codec
        self.directory = parts.directory
        self.clock = clock
        self.group_id = group_id
        self.max_batch = max_batch
        self.stats = RouterStats()
        self.hooks = HookChain([self.stats, *hooks])
        self.store = CaseStore(settings, key_store=parts.key_store)
        self.deadlines = PartitionedDeadlines()
        # Says when the broker is gone and when it is back (defect 6); fed by the fetches.
        self.watch = parts.watch or BrokerWatch(
            settings.bootstrap_servers, logger=log.bind(group_id=group_id)
        )
        self.fetches = FetchWatch(self.watch)
        self.ownership = Ownership(self.store, self.deadlines, self.watch, self.hooks)
        self.ready, self.settled = self.ownership.ready, self.ownership.settled
        self.ticker = DeadlineTick(self.store, self.deadlines, clock, self.hooks)
        # Raises the fetch wait when storage reads outlast it (defect 10).
        self.pacer = FetchPacer(settings.fetch_max_wait_ms, logger=log.bind(group_id=group_id))
        self._replay_window = (
            settings.signature_past_window + settings.signature_future_window
            if parts.verifier is not None
            else None
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sink: OutcomeSink | None = None
        self._turn_starts: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Connect the producer and join the consumer group on every agency outbox."""
        young, older, oldest = gc.get_threshold()
        gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), older, oldest)
        gc.collect()
        gc.freeze()
        self._producer = clients.producer(self.settings, linger_ms=2)
        await self._producer.start()
        writer = OutboxWriter(
            self._producer, self.codec, self.parts.key_store, self.parts.signer, hold=True
        )
        notices = NoticePolicy(
            burst=self.settings.refusal_notice_burst,
            refill_seconds=self.settings.refusal_notice_refill_seconds,
        )
        notifier = RefusalNotifier(writer, notices, self.hooks)
        self._sink = OutcomeSink(
            writer, self._producer, self.store, self.deadlines, self.hooks, notifier
        )
        self._consumer = clients.routing_consumer(
            self.settings, group_id=self.group_id, max_poll_records=self.max_batch
        )
        await self._consumer.start()
        self._consumer.subscribe(pattern=OUTBOX_PATTERN, listener=self.ownership)
        self.watch.attach()  # connected: from now on a connection error is an outage

    async def stop(self) -> None:
        """Leave the group and flush the producer."""
        try:
            if self._consumer is not None:
                await self._consumer.stop()
            if self._producer is not None:
                await self._producer.stop()
        finally:
            self.watch.detach()

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set: read, decide and write, commit, tick."""
        assert self._consumer is not None
        backoff = BACKOFF_MIN_S
        while not stop.is_set():
            try:
                await self._iteration(self._consumer)
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                log.warning(
                    "router.broker_error", error=type(exc).__name__, retry_in_s=round(backoff, 2)
                )
                await self._rewind(self._consumer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            else:
                backoff = BACKOFF_MIN_S

    async def _iteration(self, consumer: AIOKafkaConsumer) -> None:
        """One turn of the loop: read, decide and write, commit, tick."""
        records = await self._timed("fetch", self._fetch(consumer))
        self._turn_starts = first_offsets(records)
        if records:
            mine = await self._timed("process", self._process_owned(records))
            await self._timed("commit", self._commit(consumer, mine))
        if self.settled.is_set():
            await self._timed("tick", self._tick())

    async def _rewind(self, consumer: AIOKafkaConsumer) -> None:
        """After a broker error mid-turn, start again as a restarted worker would: the owned
        states rebuilt from the changelog and reading resumed from the committed offsets (what
        was written but not committed is read again; duplicates are dropped by event id).
        Nothing is processed until the states are back (``settled``)."""
        starts, self._turn_starts = self._turn_starts, {}
        assigned = consumer.assignment()
        for tp, offset in starts.items():
            if tp in assigned:
                consumer.seek(tp, offset)
        self.settled.clear()
        with contextlib.suppress(Exception):  # the broker may still be away: retried next turn
            async with self.ownership.batch_lock:
                owned = set(self.ownership.owned)
                self.ownership.revoked(owned)
                await self.ownership.assigned(owned)

    async def process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Decide and write everything for one batch; return when every write is acked."""
        assert self._sink is not None
        started = time.perf_counter()
        self.hooks.batch_read(len(records))
        context = self._context()
        futures: Futures = []
        for record in records:
            futures += await self._one(record, context)
        await self._sink.settle(futures)
        self.hooks.batch_done(time.perf_counter() - started, [r.timestamp for r in records])
        log.debug(
            "router.batch",
            records=len(records),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def consumer_lag(self) -> dict[str, int]:
        """Records not yet read, per outbox partition (``topic[partition]``)."""
        return await consumer_lag(self._consumer)

    async def _timed(self, phase: str, work: Awaitable[T]) -> T:
        """Await ``work``, telling the hooks how long this phase of the loop took."""
        started = time.perf_counter()
        result = await work
        self.hooks.spent(phase, time.perf_counter() - started)
        return result

    async def _fetch(self, consumer: AIOKafkaConsumer) -> list[ConsumerRecord[bytes, bytes]]:
        batch = await consumer.getmany(timeout_ms=200, max_records=self.max_batch)
        records = [r for rs in batch.values() for r in rs]
        await self.fetches.fetched(consumer)
        if self.watch.down or not self.settled.is_set():  # empty fetches say nothing
            self.pacer.pause()
        else:
            await self.pacer.after_fetch(consumer, len(records))
        return records

    async def _process_owned(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> list[ConsumerRecord[bytes, bytes]]:
        await asyncio.wait_for(self.settled.wait(), RECOVERY_TIMEOUT_S)
        async with self.ownership.batch_lock:
            owned = self.store.partitions
            mine = [r for r in records if r.partition in owned]
            await self.process(mine)
        return mine

    async def _commit(
        self, consumer: AIOKafkaConsumer, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        # Only the partitions this batch moved: committing every assigned partition
        # (a hundred outboxes) each batch is a hundred offset writes.
        offsets = next_offsets(records)
        try:
            if offsets:
                await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions mid-batch: the new owner re-reads them.
            log.warning("router.commit_failed", error=str(exc))

    async def _tick(self) -> None:
        """Fire due deadlines, then escalate expired consent holds, each written in full."""
        assert self._sink is not None
        sink = self._sink
        async with self.ownership.batch_lock:
            await sink.settle(await self.ticker.fire_due(self._context(), sink.apply))
            await sink.settle(await self.ticker.expire_holds(self._context(), sink.apply))
            await sink.settle(await sink.notifier.release_due(self.directory.current))

    def _context(self) -> Context:
        return self.parts.policies.context(self.directory.current, self._replay_window)

    def _partition_count(self, topic: str) -> int:
        assert self._consumer is not None
        return len(self._consumer.partitions_for_topic(topic) or ()) or UNKNOWN_SOURCE_PARTITIONS

    async def _one(self, record: ConsumerRecord[bytes, bytes], context: Context) -> Futures:
        assert self._sink is not None
        assert self._consumer is not None
        partitions = len(self._consumer.partitions_for_topic(record.topic) or {record.partition})
        raw = raw_record(record, partitions)
        result = ingest(
            raw,
            self.codec,
            context.directory,
            self.parts.verifier,
            self._partition_count,
            self.parts.key_store,
            indicators=self.parts.policies.indicators,
            hub_keys=self.parts.hub_keys,
            operator_keys=self.parts.operator_keys,
        )
        if isinstance(result, Unreadable):
            log.error("router.bad_redrive", offset=record.offset, reason=result.reason)
            return []
        if raw.topic == REDRIVE.name:
            origin = result.raw if isinstance(result, Rejected) else raw_of(result)
            _record_log(origin).info("router.redrive", redrive_offset=record.offset)
        if isinstance(result, Rejected):
            self.hooks.received(record.topic, "rejected")
            _record_log(result.raw).warning(
                "router.dead_letter", reason=result.reason.value, detail=result.detail
            )
            return await self._sink.dead_letter(
                rejected_letter(result), context.directory, authenticated=result.authenticated
            )
        self.hooks.received(record.topic, result.subject)
        signed = self.parts.verifier is not None
        try:
            return await self._handle(result, context)
        except Exception as exc:  # one defect must not stop the stream
            origin = raw_of(result)
            _record_log(origin).exception("router.processing_error", event_id=str(result.event_id))
            reason = DeadLetterReason.PROCESSING_ERROR
            detail = f"{type(exc).__name__}: {exc}"
            letter = dead_letter(origin, reason, detail, event_id=result.event_id)
            return await self._sink.dead_letter(letter, context.directory, authenticated=signed)

    async def _handle(self, inbound: Inbound, context: Context) -> Futures:
        assert self._sink is not None
        case_id = inbound.event.envelope.case_id  # type: ignore[attr-defined]
        state = self.store.get(inbound.partition, case_id)
        outcome = handle(state, inbound, context, self.clock())
        if outcome.duplicate:
            self.hooks.decided(outcome)
            return []
        futures: Futures = []
        if outcome.refusal is not None:
            refusal = outcome.refusal
            _case_log(case_id, inbound).warning(
                "router.refused", reason=refusal.reason.value, detail=refusal.detail
            )
            letter = dead_letter(
                raw_of(inbound),
                refusal.reason,
                refusal.detail,
                case_id=case_id,
                event_id=inbound.event_id,
                claimed_sender=inbound.envelope.get("sender"),
            )
            futures += await self._sink.dead_letter(
                letter, context.directory, authenticated=self.parts.verifier is not None
            )
        # Recorded on the hub's clock: a simulated one puts the broker's wall-clock timestamp
        # on the same timeline as the deadline tick's entries (docs/DASHBOARD.md).
        recorded_at = business_instant(self.clock, inbound.timestamp)
        futures += await self._sink.apply(inbound.partition, outcome, recorded_at, inbound)
        self.hooks.decided(outcome)
        if log.is_enabled_for(logging.DEBUG):  # its fields cost more than the filtered line
            _case_log(case_id, inbound).debug(
                "router.handled",
                subject=inbound.subject,
                delivered=[d.recipient.id for d in outcome.deliveries],
                held=len(outcome.state.holds),
            )
        return futures


def _record_log(raw: RawRecord) -> Any:
    """The log bound to one record read, for a line about it: bound only when a line is
    written (binding every record cost ~2 µs of the worker's per-record path)."""
    return log.bind(topic=raw.topic, partition=raw.partition, offset=raw.offset)


def _case_log(case_id: UUID, inbound: Inbound) -> Any:
    """The log bound to the case and event being handled, for a line about them."""
    return log.bind(case_id=str(case_id), event_id=str(inbound.event_id), agency=inbound.sender.id)


def first_offsets(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """Where each partition of ``records`` starts: the position to read a batch again from."""
    starts: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        starts[tp] = min(starts.get(tp, record.offset), record.offset)
    return starts


def next_offsets(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """The offset to commit per partition once ``records`` are handled: past the last one."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets
