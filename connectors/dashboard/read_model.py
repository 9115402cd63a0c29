"""The dashboard's read model: what operators see, kept current from the topics in the background.

Sources and freshness (docs/DASHBOARD.md):

- ``nrm.deadletters``, ``nrm.orphaned-needs``, ``nrm.redrive`` and ``nrm.audit``: one plain
  aiokafka consumer without a group, every partition assigned, read from the beginning up to
  the fetch response's **high watermark** (never ``end_offsets()``, which the embedded broker
  answers wrongly after batched produces), then followed: new records show within a poll.
  Topics that do not exist yet are looked for again every ``TOPIC_RETRY_S``.
- case states (holds, open deadlines): ``agents.io.case_store.read_all_states`` every
  ``refresh_s`` seconds, each read bounded by ``STATES_TIMEOUT_S``.
- the directory: ``agents.directory_follower.DirectoryFollower`` (directory.yaml, then the
  ``nrm.directory`` topic).
- the audit case index (for the case page): ``agents.audit_index.run_indexer`` on the
  dashboard's own index file.

Every loop is bounded (each poll, each read, each pause) and ends when ``stop()`` is called.
Memory is bounded: dead letters keep their metadata only (never the original bytes), at most
``MAX_DEAD_LETTERS`` of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from agents.audit_index.hub_proof import hub_proof
from agents.audit_index.indexer import run_indexer
from agents.audit_index.store import INDEX_FILE, AuditIndex
from agents.directory_follower import DirectoryFollower
from agents.io import clients
from agents.io.case_store import read_all_states
from connectors.dashboard.ack_times import AckTimes
from hub.audit.proof import Headers
from hub.contracts.codec import Codec, CodecError
from hub.contracts.events import (
    OrphanedNeed,
)
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
)
from hub.contracts.topics import AUDIT, DEAD_LETTERS, ORPHANED_NEEDS, REDRIVE
from hub.flow.case_state import CaseState
from hub.flow.redrives import hub_wrote, refusal_of
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.trust.hub_keys import ARCHIVE_POLICY, hub_public_keys
from hub.trust.operator_actions import operator_action_keys
from hub.trust.verification import SignatureError, verify_from_hub

log = structlog.get_logger(__name__)

REDRIVE_TOPIC: Final = REDRIVE.name
"""Re-drives (agents/redrive.py): keyed by case id, value the framed DeadLetter re-driven."""

FOLLOWED_TOPICS: Final = (DEAD_LETTERS.name, ORPHANED_NEEDS.name, REDRIVE_TOPIC, AUDIT.name)
MAX_DEAD_LETTERS: Final = 10_000
DETAIL_CHARS: Final = 1_000
POLL_MS: Final = 200
MAX_POLL_RECORDS: Final = 5_000
TOPIC_RETRY_S: Final = 10.0
STATES_TIMEOUT_S: Final = 30.0
ERROR_PAUSE_S: Final = 2.0


@dataclass(frozen=True)
class DeadLetterItem:
    """A dead letter as the dashboard keeps it: metadata, never the original bytes."""

    dead_letter_id: UUID
    occurred_at: datetime
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    case_id: UUID | None
    event_id: UUID | None
    claimed_sender: str | None
    original_bytes: int
    partition: int
    offset: int
    hub_signed: bool = False
    """Whether the hub's signature proves the hub wrote the letter."""
    redrive_refusal: str | None = None
    """Why « Relancer » is not offered (``hub.flow.redrives.refusal_of``), or None."""

    @classmethod
    def of(
        cls, letter: DeadLetter, partition: int, offset: int, *, hub_signed: bool
    ) -> DeadLetterItem:
        """Keep what an operator needs to judge a dead letter (``hub_signed``: whether the
        hub's signature on it verified)."""
        detail = letter.detail
        if len(detail) > DETAIL_CHARS:
            detail = detail[:DETAIL_CHARS] + "…"
        return cls(
            dead_letter_id=letter.dead_letter_id,
            occurred_at=letter.occurred_at,
            reason=letter.reason.value,
            detail=detail,
            source_topic=letter.source_topic,
            source_partition=letter.source_partition,
            source_offset=letter.source_offset,
            case_id=letter.case_id,
            event_id=letter.event_id,
            claimed_sender=letter.claimed_sender,
            original_bytes=len(letter.original),
            partition=partition,
            offset=offset,
            hub_signed=hub_signed,
            redrive_refusal=refusal_of(letter, hub_signed=hub_signed),
        )


class ReadModel:
    """Everything the dashboard shows, updated by background tasks; read it, never write it."""

    def __init__(
        self,
        settings: HubSettings,
        codec: Codec,
        directory: Directory,
        *,
        index_dir: Path,
        refresh_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.refresh_s = refresh_s
        self.index_path = index_dir / INDEX_FILE
        self.follower = DirectoryFollower(settings, codec, directory)
        self.dead_letters: OrderedDict[UUID, DeadLetterItem] = OrderedDict()
        self.dead_letters_dropped = 0
        self.redriven: set[UUID] = set()
        self.redrive_requested: set[UUID] = set()
        self.orphans: dict[UUID, OrphanedNeed] = {}
        self.states: list[CaseState] = []
        self.states_read_at: datetime | None = None
        self.ack_times = AckTimes()
        self.prove = hub_proof(settings)
        self.hub_keys = hub_public_keys(settings.config_dir, settings.previous_hub_public_keys)
        self.operator_keys = list(operator_action_keys(settings.config_dir))
        self.audit_unproven = 0
        self.records_read: dict[str, int] = dict.fromkeys(FOLLOWED_TOPICS, 0)
        self.undecodable: dict[str, int] = dict.fromkeys(FOLLOWED_TOPICS, 0)
        self.caught_up = False
        self.directory_ready = False
        self.version = 0
        self.last_error: str | None = None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def directory(self) -> Directory:
        """The newest directory snapshot."""
        return self.follower.current

    @property
    def ready(self) -> bool:
        """True once the topics were read to their high watermark and states were loaded."""
        return self.caught_up and self.states_read_at is not None and self.directory_ready

    def start(self) -> None:
        """Start the background tasks (returns at once)."""
        self._stop.clear()
        self._spawn(self._follow_topics(), "topics")
        self._spawn(self._refresh_states(), "states")
        self._spawn(self._follow_directory(), "directory")
        self._spawn(self._index_audit(), "audit-index")

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=f"dashboard-{name}"))

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every background task (bounded)."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.follower.stop()

    async def wait_changed(self, timeout_s: float) -> bool:
        """Wait (bounded) until something changes; True if it did."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # ------------------------------------------------------------------ what operators do

    def mark_redrive_requested(self, dead_letter_id: UUID) -> None:
        """Hide a dead letter this process asked to re-drive, before its marker is read."""
        self.redrive_requested.add(dead_letter_id)
        self._bump()

    def pending_dead_letters(self) -> list[DeadLetterItem]:
        """Dead letters not re-driven, newest first."""
        hidden = self.redriven | self.redrive_requested
        return [d for d in reversed(self.dead_letters.values()) if d.dead_letter_id not in hidden]

    def open_orphans(self) -> list[OrphanedNeed]:
        """The latest record of each orphaned need, unresolved ones only, oldest first."""
        return sorted(self.orphans.values(), key=lambda o: o.envelope.occurred_at)

    # ------------------------------------------------------------------ topics

    async def _follow_topics(self) -> None:
        consumer = clients.assigned_consumer(
            self.settings,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=1024 * 1024,
        )
        started = False
        try:
            while not self._stop.is_set() and not started:
                try:
                    await asyncio.wait_for(consumer.start(), 15.0)
                    started = True
                except (KafkaError, OSError, TimeoutError) as exc:
                    self._failed("broker unreachable", exc)
                    await self._pause(ERROR_PAUSE_S)
            assigned: set[TopicPartition] = set()
            next_lookup = 0.0
            while not self._stop.is_set():
                if len({tp.topic for tp in assigned}) < len(FOLLOWED_TOPICS) and (
                    time.monotonic() >= next_lookup
                ):
                    assigned = await self._assign(consumer, assigned)
                    next_lookup = time.monotonic() + TOPIC_RETRY_S
                if not assigned:
                    await self._pause(1.0)
                    continue
                try:
                    batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_POLL_RECORDS)
                except KafkaError as exc:
                    self._failed("fetch failed", exc)
                    await self._pause(ERROR_PAUSE_S)
                    continue
                if any(batch.values()):
                    for tp, records in batch.items():
                        for record in records:
                            self._apply(tp, record.value, record.offset, record.key, record.headers)
                    self._bump()
                if not self.caught_up and await self._at_high_watermark(consumer, assigned):
                    self.caught_up = True
                    log.info("dashboard.caught_up", records=dict(self.records_read))
                    self._bump()
        finally:
            if started:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 10.0)

    async def _assign(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> set[TopicPartition]:
        """Assign every partition of the followed topics that exist; keep positions."""
        try:
            existing = await asyncio.wait_for(consumer.topics(), 10.0)
        except (KafkaError, TimeoutError) as exc:
            self._failed("metadata failed", exc)
            return assigned
        wanted = {
            TopicPartition(topic, p)
            for topic in FOLLOWED_TOPICS
            if topic in existing
            for p in consumer.partitions_for_topic(topic) or ()
        }
        if wanted == assigned:
            return assigned
        positions = {tp: await consumer.position(tp) for tp in assigned}
        consumer.assign(sorted(wanted))
        for tp in wanted:
            if tp in positions:
                consumer.seek(tp, positions[tp])
            else:
                consumer.seek(tp, 0)
        missing = sorted(set(FOLLOWED_TOPICS) - {tp.topic for tp in wanted})
        if missing:
            log.info("dashboard.topics_missing", topics=missing)
        return wanted

    async def _at_high_watermark(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> bool:
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None or await consumer.position(tp) < highwater:
                return False
        return True

    def _apply(
        self,
        tp: TopicPartition,
        value: bytes | None,
        offset: int,
        key: bytes | None = None,
        headers: Headers = None,
    ) -> None:
        self.records_read[tp.topic] = self.records_read.get(tp.topic, 0) + 1
        if value is None:
            return
        try:
            event = self.codec.decode_event(value)
        except CodecError as exc:
            self.undecodable[tp.topic] = self.undecodable.get(tp.topic, 0) + 1
            log.warning(
                "dashboard.undecodable", topic=tp.topic, offset=offset, reason=exc.reason.value
            )
            return
        if tp.topic == AUDIT.name and isinstance(event, AuditEntry):
            proof = self.prove(key, value, headers)
            if proof.refused:  # not the hub's: it measures nothing
                self.audit_unproven += 1
                log.warning(
                    "dashboard.audit_unproven",
                    case_id=str(event.case_id),
                    seq=event.seq,
                    partition=tp.partition,
                    offset=offset,
                    detail=proof.detail,
                )
                return
            self.ack_times.add(event)
        elif tp.topic == DEAD_LETTERS.name and isinstance(event, DeadLetter):
            proven = hub_wrote(event, value, headers, self.hub_keys)
            earlier = self.dead_letters.get(event.dead_letter_id)
            if earlier is not None and earlier.hub_signed and not proven:
                log.warning(
                    "dashboard.dead_letter_unproven", dead_letter_id=str(event.dead_letter_id)
                )
                return  # a copy nobody but the hub could sign does not replace the hub's
            self.dead_letters[event.dead_letter_id] = DeadLetterItem.of(
                event, tp.partition, offset, hub_signed=proven
            )
            self.dead_letters.move_to_end(event.dead_letter_id)
            while len(self.dead_letters) > MAX_DEAD_LETTERS:
                self.dead_letters.popitem(last=False)
                self.dead_letters_dropped += 1
        elif tp.topic == REDRIVE_TOPIC and isinstance(event, DeadLetter):
            if not self._operator_signed(key, value, headers):
                return  # a re-drive no operator signed hides nothing (the worker refuses it)
            self.redriven.add(event.dead_letter_id)
            self.redrive_requested.discard(event.dead_letter_id)
        elif tp.topic == ORPHANED_NEEDS.name and isinstance(event, OrphanedNeed):
            if event.resolved:
                self.orphans.pop(event.request_id, None)
            else:
                self.orphans[event.request_id] = event
        else:
            self.undecodable[tp.topic] = self.undecodable.get(tp.topic, 0) + 1

    def _operator_signed(self, key: bytes | None, value: bytes, headers: Headers) -> bool:
        try:
            verify_from_hub(
                REDRIVE_TOPIC, key, value, headers, self.operator_keys, policy=ARCHIVE_POLICY
            )
        except SignatureError:
            return False
        return True

    # ------------------------------------------------------------------ states, directory

    async def _refresh_states(self) -> None:
        while not self._stop.is_set():
            try:
                states = await asyncio.wait_for(read_all_states(self.settings), STATES_TIMEOUT_S)
            except (KafkaError, OSError, TimeoutError, RuntimeError) as exc:
                self._failed("case states unreadable", exc)
            else:
                self.states = states
                self.states_read_at = datetime.now(UTC)
                self._bump()
            await self._pause(self.refresh_s)

    async def _follow_directory(self) -> None:
        while not self._stop.is_set() and not self.directory_ready:
            try:
                await asyncio.wait_for(self.follower.start(), 90.0)
                self.directory_ready = True
                self._bump()
            except (KafkaError, OSError, TimeoutError) as exc:
                self._failed("directory unreadable", exc)
                with contextlib.suppress(Exception):
                    await self.follower.stop()
                await self._pause(ERROR_PAUSE_S)

    async def _index_audit(self) -> None:
        try:
            index = AuditIndex(self.index_path, AUDIT.name)
        except (OSError, sqlite3.Error) as exc:
            # A read-only data folder: the case page says so; the rest of the page works.
            self._failed(f"audit index unusable at {self.index_path}", exc)
            return
        try:
            await run_indexer(
                self.settings, index, self.codec, self._stop, pass_timeout_s=5.0, idle_s=2.0
            )
        except sqlite3.Error as exc:
            self._failed("audit index failed", exc)
        finally:
            index.close()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.last_error = f"{what}: {type(exc).__name__}"
        log.warning("dashboard.source_failed", what=what, error=f"{type(exc).__name__}: {exc}")
