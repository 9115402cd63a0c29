"""The routing worker: outboxes in, inbox projections, dead letters and audit entries out.

One loop, batch by batch: read a batch from every agency outbox (one consumer group, range
assignment, so partition p of every outbox — and of the case-state changelog — belongs to the
same worker), verify and decode each record, let ``hub.flow.case_flow.handle`` decide, write what it
decided through the one ``OutboxWriter``, write the changed case states, wait for every write
to be acknowledged, then commit the input offsets. A crash anywhere replays the batch; event
ids make the replay harmless (at-least-once, idempotent handling).

The loop is plain aiokafka rather than a Faust agent: Faust's per-event path tops out near
4k msgs/s on this machine, far below the broker (docs/DECISIONS.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, TopicPartition

from agents.directory_follower import DirectoryFollower
from agents.io import clients
from agents.io.broker_watch import BrokerWatch
from agents.io.case_store import RECOVERY_TIMEOUT_S, CaseStore
from agents.io.fetch_pacer import FetchPacer
from agents.io.outbox_writer import Futures, OutboxWriter
from agents.io.records import raw_record
from agents.metrics import LatencyHistogram, record_latency_histogram
from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AgencyRole, AuditAction, DeadLetterReason
from hub.contracts.events import DeadLetter
from hub.contracts.topics import (
    AUDIT,
    DEAD_LETTERS,
    OUTBOX_PREFIX,
    REDRIVE,
    agency_of_outbox,
    inbox_topic,
)
from hub.flow.case_flow import handle
from hub.flow.deadline_flow import expired_holds, on_advance
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import AuditNote, Context, Inbound, Outcome
from hub.flow.ingest import RawRecord, Rejected, accept, dead_letter, rejected_letter
from hub.rules.consent import ConsentPolicy
from hub.rules.deadlines.policy import DeadlinePolicy
from hub.rules.lifecycle import Lifecycle, PathwayPolicy
from hub.rules.projection import Projector
from hub.rules.routing import RoutingRules
from hub.runtime.clock import Clock, wall_clock
from hub.runtime.settings import HubSettings
from hub.trust.signing import RecordSigner
from hub.trust.verification import RecordVerifier, SignatureError

log = structlog.get_logger(__name__)
OUTBOX_PATTERN = (
    "^" + OUTBOX_PREFIX.replace(".", r"\.") + ".+|^" + REDRIVE.name.replace(".", r"\.") + "$"
)
GROUP_ID = "nrm-router"
HOLD_SCAN_INTERVAL_S = 60.0
POSITIONS_TIMEOUT_S = 1.0
DEAD_LETTER_SUBJECT = "fr.nrm.DeadLetter"
AUDIT_SUBJECT = "fr.nrm.AuditEntry"
CASE_STATE_SUBJECT = "case-state"  # JSON, hub-internal: not an Avro subject


@dataclass
class RouterStats:
    """Counters the worker keeps (exported as metrics by the operator issue)."""

    records: int = 0
    routed: int = 0
    delivered: int = 0
    held: int = 0
    duplicates: int = 0
    escalations: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    events_in: dict[tuple[str, str], int] = field(default_factory=dict)
    events_out: dict[tuple[str, str], int] = field(default_factory=dict)
    audit_actions: dict[str, int] = field(default_factory=dict)
    batch_seconds: LatencyHistogram = field(default_factory=LatencyHistogram)
    loop_seconds: dict[str, float] = field(default_factory=dict)
    record_latency: LatencyHistogram = field(default_factory=record_latency_histogram)

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        """Count one dead letter by reason (and the record written)."""
        self.dead_letters[reason.value] = self.dead_letters.get(reason.value, 0) + 1
        self.wrote(DEAD_LETTERS.name, DEAD_LETTER_SUBJECT)

    def received(self, topic: str, subject: str) -> None:
        """Count one record read, by topic and event type ("rejected" when refused at ingest)."""
        self.events_in[(topic, subject)] = self.events_in.get((topic, subject), 0) + 1

    def wrote(self, topic: str, subject: str, count: int = 1) -> None:
        """Count records written, by topic and event type."""
        self.events_out[(topic, subject)] = self.events_out.get((topic, subject), 0) + count

    def spent(self, phase: str, since: float) -> None:
        """Add the time since ``since`` (``time.perf_counter``) to a phase of the loop: where
        the worker's time goes (fetch, process, commit, tick), working or waiting."""
        self.loop_seconds[phase] = self.loop_seconds.get(phase, 0.0) + (time.perf_counter() - since)

    def audited(self, notes: Sequence[AuditNote]) -> None:
        """Count the audit entries of one outcome, by action."""
        for note in notes:
            action = note.action.value
            self.audit_actions[action] = self.audit_actions.get(action, 0) + 1
        self.wrote(AUDIT.name, AUDIT_SUBJECT, len(notes))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, router: Router) -> None:
        self.router = router

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # aiokafka may hand out fetched records while the assignment callback still runs:
        # nothing is processed until the states of the new assignment are rebuilt.
        self.router.settled.clear()
        # Wait for the batch in flight: its states are written before they are forgotten.
        async with self.router.batch_lock:
            self.router.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.router.assigned({tp.partition for tp in assigned})


class Router:
    """The routing worker of one process."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        codec: Codec,
        directory: DirectoryFollower,
        rules: RoutingRules,
        consent: ConsentPolicy,
        deadlines: DeadlinePolicy,
        lifecycle: Lifecycle,
        pathway: PathwayPolicy,
        projector: Projector,
        key_store: KeyStore,
        verifier: RecordVerifier | None,
        signer: RecordSigner | None,
        clock: Clock = wall_clock,
        group_id: str = GROUP_ID,
        max_batch: int = 500,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.directory = directory
        self.rules = rules
        self.consent = consent
        self.deadline_policy = deadlines
        self.lifecycle = lifecycle
        self.pathway = pathway
        self.deadlines = PartitionedDeadlines()
        self.projector = projector
        self.key_store = key_store
        self.verifier = verifier
        self.signer = signer
        self.clock = clock
        self.group_id = group_id
        self.max_batch = max_batch
        self.store = CaseStore(settings)
        self.stats = RouterStats()
        self.ready = asyncio.Event()
        self.settled = asyncio.Event()
        self.batch_lock = asyncio.Lock()
        self._next_hold_scan = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._writer: OutboxWriter | None = None
        self._replay_window = (
            settings.signature_past_window + settings.signature_future_window
            if verifier is not None
            else None
        )
        # Says when the broker is gone and when it is back (defect 6); fed by the fetches.
        self.watch = BrokerWatch(settings.bootstrap_servers, logger=log.bind(group_id=group_id))
        # Raises the fetch wait when storage reads outlast it (defect 10).
        self.pacer = FetchPacer(settings.fetch_max_wait_ms, logger=log.bind(group_id=group_id))
        self._last_fetch_ms = 0

    async def start(self) -> None:
        """Connect the producer and join the consumer group on every agency outbox."""
        self._producer = clients.producer(self.settings, linger_ms=2)
        await self._producer.start()
        self._writer = OutboxWriter(self._producer, self.codec, self.key_store, self.signer)
        self._consumer = clients.routing_consumer(
            self.settings, group_id=self.group_id, max_poll_records=self.max_batch
        )
        await self._consumer.start()
        self._consumer.subscribe(pattern=OUTBOX_PATTERN, listener=_Rebalance(self))
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

    def revoked(self, partitions: set[int]) -> None:
        """Forget the states and deadlines of revoked partitions: if they come back, another
        worker may have changed them meanwhile, so they are rebuilt from the changelog."""
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
        self.settled.set()
        self.watch.answered()  # the group coordinator did
        log.info("router.assigned", partitions=sorted(partitions), cases=self.store.count())
        self.ready.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set."""
        assert self._consumer is not None
        stats = self.stats
        while not stop.is_set():
            started = time.perf_counter()
            batch = await self._consumer.getmany(timeout_ms=200, max_records=self.max_batch)
            records = [r for rs in batch.values() for r in rs]
            await self._watch_broker()
            if self.watch.down or not self.settled.is_set():  # empty fetches say nothing
                self.pacer.pause()
            else:
                await self.pacer.after_fetch(self._consumer, len(records))
            stats.spent("fetch", started)
            if records:
                started = time.perf_counter()
                await asyncio.wait_for(self.settled.wait(), RECOVERY_TIMEOUT_S)
                async with self.batch_lock:
                    owned = self.store.partitions
                    mine = [r for r in records if r.partition in owned]
                    await self.process(mine)
                stats.spent("process", started)
                # Only the partitions this batch moved: committing every assigned partition
                # (a hundred outboxes) each batch is a hundred offset writes.
                started = time.perf_counter()
                offsets = next_offsets(mine)
                try:
                    if offsets:
                        await self._consumer.commit(offsets)
                except (CommitFailedError, IllegalStateError) as exc:
                    # A rebalance took the partitions mid-batch: the new owner re-reads them.
                    log.warning("router.commit_failed", error=str(exc))
                stats.spent("commit", started)
            if self.settled.is_set():
                started = time.perf_counter()
                async with self.batch_lock:
                    await self.tick()
                    await self.expire_holds()
                stats.spent("tick", started)

    async def process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Decide and write everything for one batch; return when every write is acked."""
        assert self._writer is not None
        assert self._producer is not None
        started = time.perf_counter()
        context = self._context()
        futures: Futures = []
        for record in records:
            futures += await self._one(record, context)
        futures += await self._flush_states()
        if futures:
            await asyncio.gather(*futures)
        self.stats.batches += 1
        self.stats.batch_seconds.observe(time.perf_counter() - started)
        acked_ms = time.time() * 1000
        for record in records:
            self.stats.record_latency.observe(max(0.0, (acked_ms - record.timestamp) / 1000))
        log.debug(
            "router.batch",
            records=len(records),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def _flush_states(self) -> Futures:
        """Write the changed case states to their changelog (counted with the other writes)."""
        assert self._producer is not None
        futures = await self.store.flush(self._producer)
        if futures:
            self.stats.wrote(self.store.topic, CASE_STATE_SUBJECT, len(futures))
        return futures

    async def _watch_broker(self) -> None:
        """Tell the broker watch when a fetch was answered; once the outage is over, say so
        with the positions routing resumes from (partitions never read from left out)."""
        assert self._consumer is not None
        stamps = [self._consumer.last_poll_timestamp(tp) for tp in self._consumer.assignment()]
        latest = max((s for s in stamps if s is not None), default=0)
        if latest > self._last_fetch_ms:
            self._last_fetch_ms = latest
            self.watch.answered(at=latest / 1000)
        if self.watch.recovered():
            positions = await self.positions()
            self.watch.reconnected(resumes_at={tp: n for tp, n in positions.items() if n})

    async def positions(self) -> dict[str, int]:
        """The next offset to read per assigned partition (``topic[partition]``); those not
        known within a second (being reset after a rebalance) are left out."""
        assert self._consumer is not None
        deadline = time.monotonic() + POSITIONS_TIMEOUT_S
        positions: dict[str, int] = {}
        for tp in sorted(self._consumer.assignment()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                position = await asyncio.wait_for(self._consumer.position(tp), remaining)
            except (IllegalStateError, TimeoutError):
                continue
            positions[f"{tp.topic}[{tp.partition}]"] = position
        return positions

    async def consumer_lag(self) -> dict[str, int]:
        """Records not yet read, per outbox partition (``topic[partition]``), from the last
        fetch's high watermark; empty before the first fetch."""
        if self._consumer is None:
            return {}
        lag: dict[str, int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                position = await self._consumer.position(tp)
                lag[f"{tp.topic}[{tp.partition}]"] = max(0, highwater - position)
        return lag

    def _context(self) -> Context:
        return Context(
            self.directory.current,
            self.rules,
            self.consent,
            self.projector,
            self.deadline_policy,
            self.lifecycle,
            self.pathway,
            replay_window=self._replay_window,
        )

    async def expire_holds(self) -> int:
        """Escalate consent holds past the policy's time limit (once each), at most once a
        minute: a scan of the cases with held messages on the partitions this worker owns."""
        assert self._producer is not None
        if time.monotonic() < self._next_hold_scan:
            return 0
        self._next_hold_scan = time.monotonic() + HOLD_SCAN_INTERVAL_S
        now = self.clock()
        context = self._context()
        futures: Futures = []
        escalated = 0
        for partition in sorted(self.store.partitions):
            for state in self.store.states(partition):
                outcome = expired_holds(state, context, now) if state.holds else None
                if outcome is None:
                    continue
                futures += await self._apply(
                    partition,
                    outcome,
                    recorded_at=now,
                    event_id=None,
                    sender="hub",
                    sender_role=AgencyRole.HUB,
                )
                escalated += len(outcome.published)
        futures += await self._flush_states()
        if futures:
            await asyncio.gather(*futures)
        return escalated

    async def tick(self) -> int:
        """Fire the ladder steps that are due on the partitions this worker owns.

        Costs O(due): the index is time-ordered. Returns how many deadlines advanced.
        """
        assert self._producer is not None
        now = self.clock()
        next_due = self.deadlines.next_due_at()
        if next_due is None or next_due > now:
            return 0
        context = self._context()
        futures: Futures = []
        advances = self.deadlines.tick(now)
        for partition, result in advances:
            state = self.store.get(partition, result.deadline.case_id)
            outcome = on_advance(state, result, context, now)
            futures += await self._apply(
                partition,
                outcome,
                recorded_at=now,
                event_id=None,
                sender="hub",
                sender_role=AgencyRole.HUB,
            )
            self.stats.escalations += len(result.steps)
        futures += await self._flush_states()
        if futures:
            await asyncio.gather(*futures)
        return len(advances)

    async def _apply(
        self,
        partition: int,
        outcome: Outcome,
        *,
        recorded_at: datetime,
        event_id: UUID | None,
        sender: str,
        sender_role: AgencyRole,
    ) -> Futures:
        """Write an outcome's deliveries, hub records and audit notes; keep its state and
        its deadlines. The one path every decision takes to the topics."""
        assert self._writer is not None
        case_id = outcome.state.case_id
        futures: Futures = []
        for delivery in outcome.deliveries:
            futures.append(await self._writer.deliver(case_id, delivery))
            self.stats.wrote(inbox_topic(delivery.recipient.id), delivery.subject)
        for record in outcome.published:
            futures.append(await self._writer.publish(case_id, record))
            self.stats.wrote(record.topic, record.subject)
        for deadline_id in outcome.closed:
            self.deadlines.remove(partition, deadline_id)
        for deadline in outcome.opened:
            self.deadlines.add(partition, deadline)
        notes = _notes(outcome)
        self.stats.audited(notes)
        state, audit_futures = await self._writer.audit(
            outcome.state,
            notes,
            recorded_at=recorded_at,
            event_id=event_id,
            sender=sender,
            sender_role=sender_role,
        )
        self.store.put(partition, state)
        self.stats.delivered += len(outcome.deliveries)
        return futures + audit_futures

    async def _one(self, record: ConsumerRecord[bytes, bytes], context: Context) -> Futures:
        assert self._writer is not None
        assert self._consumer is not None
        self.stats.records += 1
        signed_at: datetime | None = None
        again = ""
        if record.topic == REDRIVE.name:
            redriven = self._redriven(record)
            if redriven is None:
                return []
            raw, signed_at = redriven
            again = f"redrive/{record.partition}/{record.offset}"
        else:
            partitions = self._consumer.partitions_for_topic(record.topic) or {record.partition}
            raw = raw_record(record, len(partitions))
        bound = log.bind(topic=raw.topic, partition=raw.partition, offset=raw.offset)
        rejected = self._verify(raw, context, signed_at)
        accepted = rejected or accept(raw, self.codec, context.directory)
        self.stats.received(
            record.topic, "rejected" if isinstance(accepted, Rejected) else accepted.subject
        )
        if isinstance(accepted, Rejected):
            bound.warning(
                "router.dead_letter", reason=accepted.reason.value, detail=accepted.detail
            )
            self.stats.dead_lettered(accepted.reason)
            return [await self._writer.dead_letter(rejected_letter(accepted, again))]
        try:
            return await self._handle(accepted, context)
        except Exception as exc:  # one defect must not stop the stream
            bound.exception("router.processing_error", event_id=str(accepted.event_id))
            self.stats.dead_lettered(DeadLetterReason.PROCESSING_ERROR)
            letter = dead_letter(
                raw,
                DeadLetterReason.PROCESSING_ERROR,
                f"{type(exc).__name__}: {exc}",
                event_id=accepted.event_id,
            )
            return [await self._writer.dead_letter(letter)]

    def _redriven(self, record: ConsumerRecord[bytes, bytes]) -> tuple[RawRecord, datetime] | None:
        """The original record a re-drive carries, and when the hub first received it."""
        try:
            letter = self.codec.decode_event(record.value or b"")
        except CodecError as exc:
            log.error("router.bad_redrive", offset=record.offset, reason=exc.reason.value)
            return None
        if not isinstance(letter, DeadLetter):
            log.error("router.bad_redrive", offset=record.offset, reason="not a DeadLetter")
            return None
        assert self._consumer is not None
        partitions = self._consumer.partitions_for_topic(letter.source_topic) or {0, 1, 2, 3}
        log.info(
            "router.redrive",
            dead_letter_id=str(letter.dead_letter_id),
            source=letter.source_topic,
            offset=letter.source_offset,
        )
        raw = RawRecord(
            topic=letter.source_topic,
            partition=letter.source_partition,
            offset=letter.source_offset,
            key=letter.original_key,
            value=letter.original,
            timestamp_ms=int(letter.occurred_at.timestamp() * 1000),
            headers=tuple((h.name, h.value) for h in letter.original_headers),
            partitions=len(partitions),
            redriven=True,
        )
        return raw, letter.occurred_at

    def _verify(
        self, raw: RawRecord, context: Context, signed_at: datetime | None = None
    ) -> Rejected | None:
        """The signature check: the key that verifies must belong to the outbox's owner."""
        if self.verifier is None:
            return None
        owner = agency_of_outbox(raw.topic)
        agency = context.directory.get(owner) if owner else None
        if agency is None:
            return None  # ingest names the missing owner
        try:
            # Signatures are checked against the wall clock, never the simulated one; a
            # re-driven record against the time the hub first received it.
            self.verifier.verify_record(
                raw.topic, raw.key, raw.value, raw.headers, agency, now=signed_at
            )
        except SignatureError as exc:
            return Rejected(raw, exc.reason, exc.detail)
        return None

    async def _handle(self, inbound: Inbound, context: Context) -> Futures:
        assert self._writer is not None
        case_id = inbound.event.envelope.case_id  # type: ignore[attr-defined]
        state = self.store.get(inbound.partition, case_id)
        outcome: Outcome = handle(state, inbound, context, self.clock())
        if outcome.duplicate:
            self.stats.duplicates += 1
            return []
        futures: Futures = []
        bound = log.bind(
            case_id=str(case_id), event_id=str(inbound.event_id), agency=inbound.sender.id
        )
        if outcome.refusal is not None:
            bound.warning(
                "router.refused", reason=outcome.refusal.reason.value, detail=outcome.refusal.detail
            )
            self.stats.dead_lettered(outcome.refusal.reason)
            letter = dead_letter(
                _raw_of(inbound),
                outcome.refusal.reason,
                outcome.refusal.detail,
                case_id=case_id,
                event_id=inbound.event_id,
                claimed_sender=inbound.envelope.get("sender"),
            )
            futures.append(await self._writer.dead_letter(letter))
        futures += await self._apply(
            inbound.partition,
            outcome,
            recorded_at=inbound.timestamp,
            event_id=inbound.event_id,
            sender=inbound.sender.id,
            sender_role=inbound.sender.role,
        )
        self.stats.routed += 1
        self.stats.held += sum(1 for n in outcome.audit if n.action is AuditAction.HELD)
        bound.debug(
            "router.handled",
            subject=inbound.subject,
            delivered=[d.recipient.id for d in outcome.deliveries],
            held=len(outcome.state.holds),
        )
        return futures


def next_offsets(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """The offset to commit per partition once ``records`` are handled: past the last one."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def _notes(outcome: Outcome) -> tuple[AuditNote, ...]:
    if outcome.refusal is None or any(n.action is AuditAction.DEAD_LETTERED for n in outcome.audit):
        return outcome.audit
    return (
        AuditNote(AuditAction.DEAD_LETTERED, "refused", reason=outcome.refusal.reason.value),
        *outcome.audit,
    )


def _raw_of(inbound: Inbound) -> RawRecord:
    return RawRecord(
        topic=inbound.topic,
        partition=inbound.partition,
        offset=inbound.offset,
        key=str(inbound.event.envelope.case_id).encode(),  # type: ignore[attr-defined]
        value=inbound.frame,
        timestamp_ms=int(inbound.timestamp.timestamp() * 1000),
        headers=inbound.headers,
    )
