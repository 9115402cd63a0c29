"""The audit case index: which offsets of ``nrm.audit`` hold each case's entries.

A plain aiokafka consumer (no Faust: its table recovery reads up to ``end_offsets()``, which
the embedded broker answers wrongly after batched produces) reads the audit topic and keeps
a durable sqlite index in ``HubSettings.data_dir``: case id → (partition, offset, seq, hash),
plus how far each partition is indexed, written in the same transaction as the rows it
covers, so a restart resumes exactly where it stopped. No consumer group: the progress table
*is* the committed offset, and there is no group join to wait for.

``fetch_case`` reads exactly the indexed offsets of one case with direct Fetch requests at
those offsets (one request per leader per round, every partition in parallel): replay costs
O(entries of the case), not O(log). Reading "up to the end" always stops at the fetch
response's high watermark, never at ``end_offsets()`` (docs/BROKER.md).

Run the indexer: ``python -m agents.audit_index`` (until SIGTERM), or ``hub audit index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from hub.audit.chain import AUDIT_SUBJECT, ChainHead
from hub.audit.verify import (
    ChainVerifier,
    LogRecord,
    Position,
    ProblemKind,
    VerificationReport,
    decode_record,
)
from hub.contracts.codec import Codec, CodecError
from hub.contracts.events import AuditEntry
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

log = structlog.get_logger(__name__)

INDEX_FILE = "audit-index.sqlite"
# A poll returns as soon as records arrive; with none it waits this long, and the broker holds
# an empty fetch for FETCH_WAIT_MS: together they set the cost of a catch-up with nothing new.
POLL_MS = 10
FETCH_WAIT_MS = 50
MAX_POLL_RECORDS = 20_000
# Bytes asked per direct fetch. The broker always returns the whole batch holding the offset;
# 16 KiB (aiokafka's default batch) keeps sparse reads light, while a case's entries written
# close together still come back in one request.
CASE_FETCH_BYTES = 16 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    case_id TEXT,
    seq INTEGER,
    hash BLOB,
    PRIMARY KEY (topic, partition, offset)
);
CREATE INDEX IF NOT EXISTS entries_by_case ON entries (topic, case_id, seq);
CREATE TABLE IF NOT EXISTS progress (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


class AuditLogUnavailable(RuntimeError):
    """The audit topic cannot be read (no such topic, broker unreachable, timeout)."""


def index_path(settings: HubSettings) -> Path:
    """Where the index of ``settings`` lives: ``<data_dir>/audit-index.sqlite``."""
    return settings.data_dir / INDEX_FILE


@dataclass(frozen=True)
class IndexedEntry:
    """Where one of a case's records is; seq and hash are None if it did not decode."""

    partition: int
    offset: int
    seq: int | None
    hash: bytes | None


@dataclass(frozen=True)
class IndexRow:
    """A row to index: one record of the audit topic."""

    partition: int
    offset: int
    case_id: UUID | None
    seq: int | None
    hash: bytes | None


class AuditIndex:
    """The durable sqlite index of one audit topic (several processes may share the file)."""

    def __init__(self, path: Path, topic: str = AUDIT.name) -> None:
        self.path = path
        self.topic = topic
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, settings: HubSettings, topic: str = AUDIT.name) -> AuditIndex:
        """The index in ``settings.data_dir``."""
        return cls(index_path(settings), topic)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> AuditIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def record(self, rows: Sequence[IndexRow], progress: Mapping[int, int]) -> None:
        """Index ``rows`` and advance per-partition progress, in one transaction.

        Idempotent, and progress never moves back, so two indexers racing on one file (the
        agent and a CLI catching up) cannot lose anything.
        """
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.topic,
                        r.partition,
                        r.offset,
                        str(r.case_id) if r.case_id else None,
                        r.seq,
                        r.hash,
                    )
                    for r in rows
                ],
            )
            self._db.executemany(
                "INSERT INTO progress VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE"
                " SET next_offset = max(next_offset, excluded.next_offset)",
                [(self.topic, p, o) for p, o in progress.items()],
            )

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def progress(self) -> dict[int, int]:
        """Per partition, the next offset to index."""
        rows = self._db.execute(
            "SELECT partition, next_offset FROM progress WHERE topic = ?", (self.topic,)
        )
        return {int(p): int(o) for p, o in rows}

    def positions(self, case_id: UUID) -> list[IndexedEntry]:
        """Every indexed record of ``case_id``, by partition and offset (i.e. log order)."""
        rows = self._db.execute(
            "SELECT partition, offset, seq, hash FROM entries WHERE topic = ? AND case_id = ?"
            " ORDER BY partition, offset",
            (self.topic, str(case_id)),
        )
        return [IndexedEntry(int(p), int(o), s, h) for p, o, s, h in rows]

    def head(self, case_id: UUID) -> ChainHead | None:
        """The highest-seq entry indexed for ``case_id``: an anchor against truncation."""
        row = self._db.execute(
            "SELECT seq, hash FROM entries WHERE topic = ? AND case_id = ? AND seq IS NOT NULL"
            " ORDER BY seq DESC, partition, offset LIMIT 1",
            (self.topic, str(case_id)),
        ).fetchone()
        return ChainHead(case_id=case_id, seq=row[0], hash=row[1]) if row else None

    def heads(self) -> dict[UUID, ChainHead]:
        """The indexed head of every case."""
        rows = self._db.execute(
            "SELECT case_id, seq, hash, max(seq) FROM entries WHERE topic = ? AND seq IS NOT NULL"
            " AND case_id IS NOT NULL GROUP BY case_id",
            (self.topic,),
        )
        return {UUID(c): ChainHead(case_id=UUID(c), seq=s, hash=h) for c, s, h, _ in rows}

    def cases(self) -> list[UUID]:
        """Every indexed case id."""
        rows = self._db.execute(
            "SELECT DISTINCT case_id FROM entries WHERE topic = ? AND case_id IS NOT NULL",
            (self.topic,),
        )
        return sorted(UUID(c) for (c,) in rows)

    def count(self) -> int:
        """How many records are indexed."""
        row = self._db.execute("SELECT count(*) FROM entries WHERE topic = ?", (self.topic,))
        return int(row.fetchone()[0])


# ------------------------------------------------------------------------- indexing


def index_row(codec: Codec, partition: int, offset: int, key: bytes | None, value: Any) -> IndexRow:
    """What the index keeps of one record; an undecodable one is kept under its key's case."""
    try:
        decoded = codec.decode(value) if isinstance(value, bytes) else None
    except CodecError:
        decoded = None
    if decoded is not None and decoded.subject == AUDIT_SUBJECT:
        record = decoded.record
        case_id = record.get("case_id")
        if isinstance(case_id, UUID):
            return IndexRow(partition, offset, case_id, int(record["seq"]), bytes(record["hash"]))
    # Still indexed under the case its key names, so that verifying the case names it.
    return IndexRow(partition, offset, _uuid_or_none(key), None, None)


def _uuid_or_none(key: bytes | None) -> UUID | None:
    try:
        return UUID(key.decode()) if key else None
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up pass did."""

    indexed: int
    complete: bool
    high_watermarks: dict[int, int]


def _consumer(settings: HubSettings, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        **client_options(settings),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": FETCH_WAIT_MS,
        "request_timeout_ms": 10_000,
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    topics = await consumer.topics()
    partitions = consumer.partitions_for_topic(topic) if topic in topics else None
    if not partitions:
        raise AuditLogUnavailable(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def _read_to_high_watermark(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int],
    deadline: float,
    on_batch: Callable[[Mapping[TopicPartition, list[Any]], dict[int, int]], None],
) -> tuple[bool, dict[int, int]]:
    """Feed every record from ``starts`` up to the high watermark to ``on_batch``.

    Returns (complete, high watermarks). Bounded by ``deadline``; each wait is one poll.
    """
    consumer.assign(list(starts))
    next_offset = dict(starts)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    while time.monotonic() < deadline:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        batch = await consumer.getmany(
            timeout_ms=max(1, min(POLL_MS, remaining_ms)), max_records=MAX_POLL_RECORDS
        )
        for tp, records in batch.items():
            if records:
                next_offset[tp] = records[-1].offset + 1
        on_batch(batch, {tp.partition: o for tp, o in next_offset.items()})
        watermarks = {tp: consumer.highwater(tp) for tp in starts}
        if all(hw is not None and next_offset[tp] >= hw for tp, hw in watermarks.items()):
            return True, {tp.partition: int(hw or 0) for tp, hw in watermarks.items()}
    watermarks = {tp: consumer.highwater(tp) for tp in starts}
    return False, {tp.partition: int(hw) for tp, hw in watermarks.items() if hw is not None}


async def catch_up(
    settings: HubSettings, index: AuditIndex, codec: Codec, *, timeout_s: float = 30.0
) -> CatchUp:
    """Index every record of the topic not indexed yet, up to the high watermark."""
    consumer = _consumer(settings)
    indexed = 0

    def on_batch(batch: Mapping[TopicPartition, list[Any]], progress: dict[int, int]) -> None:
        nonlocal indexed
        rows = [
            index_row(codec, tp.partition, r.offset, r.key, r.value)
            for tp, records in batch.items()
            for r in records
        ]
        if rows:
            index.record(rows, progress)
            indexed += len(rows)

    try:
        await consumer.start()
        tps = await _partitions(consumer, index.topic)
        done = index.progress()
        starts = {tp: done.get(tp.partition, 0) for tp in tps}
        complete, watermarks = await _read_to_high_watermark(
            consumer, starts, time.monotonic() + timeout_s, on_batch
        )
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {index.topic}: {exc}") from exc
    finally:
        await consumer.stop()
    log.info("audit_index.caught_up", topic=index.topic, indexed=indexed, complete=complete)
    return CatchUp(indexed, complete, watermarks)


async def run_indexer(
    settings: HubSettings,
    index: AuditIndex,
    codec: Codec,
    stop: asyncio.Event,
    *,
    pass_timeout_s: float = 5.0,
    idle_s: float = 0.5,
) -> int:
    """Keep the index current until ``stop`` is set; return how many records were indexed.

    Each pass is bounded (``pass_timeout_s``) and so is each pause between passes.
    """
    total = 0
    while not stop.is_set():
        try:
            total += (await catch_up(settings, index, codec, timeout_s=pass_timeout_s)).indexed
        except AuditLogUnavailable as exc:
            log.warning("audit_index.unavailable", topic=index.topic, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=idle_s)
    return total


# ------------------------------------------------------------------------- reading a case


async def fetch_case_records(
    settings: HubSettings,
    index: AuditIndex,
    case_id: UUID,
    codec: Codec,
    *,
    timeout_s: float = 10.0,
) -> list[LogRecord]:
    """The indexed records of one case, in log order, each with its position.

    A record the index knows but the log no longer has comes back as a MISSING record, so
    ``verify`` names it.
    """
    positions = index.positions(case_id)
    wanted: dict[int, list[int]] = {}
    for p in positions:
        wanted.setdefault(p.partition, []).append(p.offset)
    found = await read_offsets(settings, index.topic, wanted, timeout_s=timeout_s)
    records: list[LogRecord] = []
    for number, p in enumerate(positions):
        position = Position(number, p.partition, p.offset)
        stored = found.get((p.partition, p.offset))
        if stored is None:
            records.append(
                LogRecord(
                    position,
                    None,
                    str(case_id).encode(),
                    f"indexed entry seq {p.seq} is no longer in the log",
                    ProblemKind.MISSING,
                    p.seq,
                )
            )
            continue
        key, value = stored
        records.append(decode_record(codec, value, key=key, position=position))
    return records


async def fetch_case(
    settings: HubSettings,
    index: AuditIndex,
    case_id: UUID,
    *,
    codec: Codec | None = None,
    timeout_s: float = 10.0,
) -> list[AuditEntry]:
    """The entries of one case that decode, in log order: O(case) reads, never a scan."""
    codec = codec or Codec(SchemaRegistry.load(settings.schemas_dir))
    records = await fetch_case_records(settings, index, case_id, codec, timeout_s=timeout_s)
    return [r.entry for r in records if r.entry is not None]


async def read_offsets(
    settings: HubSettings,
    topic: str,
    wanted: Mapping[int, Iterable[int]],
    *,
    timeout_s: float = 10.0,
) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    """(key, value) at each wanted (partition, offset), by direct Fetch requests.

    Each round sends, for every partition, one Fetch at its lowest offset still wanted, and
    keeps whatever wanted offsets the returned batches hold. An offset the broker answered
    past, or at/after the high watermark, is gone and left out. Rounds are bounded by the
    number of offsets wanted (plus a few retries of empty answers) and by ``timeout_s``.

    Why not ``consumer.seek`` + ``getmany``: through aiokafka's fetcher each jump costs
    10-20 ms on the embedded broker, against 0.3-2 ms for the Fetch request itself. Why one
    request per partition: the embedded broker fills a multi-partition Fetch from its first
    partition only, and honours the request's ``max_bytes`` but not the partition's.
    """
    pending = {p: _Wanted(sorted(set(offsets))) for p, offsets in wanted.items() if offsets}
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    if not pending:
        return found
    client = AIOKafkaClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    deadline = time.monotonic() + timeout_s
    try:
        await client.bootstrap()
        await client.add_topic(topic)
        rounds = sum(len(w.offsets) for w in pending.values()) + _EMPTY_RETRIES + 1
        for _ in range(rounds):
            if not pending:
                break
            if time.monotonic() > deadline:
                raise AuditLogUnavailable(f"reading {topic} took more than {timeout_s}s")
            await _fetch_round(client, topic, pending, found)
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        await client.close()
    return found


_EMPTY_RETRIES = 3
# Long enough for the embedded broker to collect a batch (it answers empty when its scan
# outlasts max_wait), and only ever waited in full at the end of a partition.
_FETCH_MAX_WAIT_MS = 500


@dataclass
class _Wanted:
    offsets: list[int]
    empty_answers: int = 0


async def _fetch_round(
    client: AIOKafkaClient,
    topic: str,
    pending: dict[int, _Wanted],
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]],
) -> None:
    partitions = list(pending)
    requests = []
    for partition in partitions:
        leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        if leader is None or leader < 0:
            raise AuditLogUnavailable(f"no leader for {topic}[{partition}]")
        fetch = FetchRequest(
            _FETCH_MAX_WAIT_MS,
            1,
            CASE_FETCH_BYTES,
            0,
            [(topic, [(partition, pending[partition].offsets[0], CASE_FETCH_BYTES)])],
        )
        requests.append(client.send(leader, fetch))
    for response in await asyncio.gather(*requests):
        for _topic, answered in response.topics:
            for partition, error_code, highwater, *data in answered:
                if error_code:
                    raise for_code(error_code)(f"fetching {topic}[{partition}]")
                if partition in pending:
                    _take(partition, highwater, data[-1], pending, found)


def _take(
    partition: int,
    highwater: int,
    data: bytes,
    pending: dict[int, _Wanted],
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]],
) -> None:
    wanted = pending[partition]
    wanted_set = set(wanted.offsets)
    last_seen = -1
    records = MemoryRecords(data)
    while records.has_next():
        batch = records.next_batch()
        if batch is None or batch.is_control_batch:
            continue
        for record in batch:
            last_seen = record.offset
            if record.offset in wanted_set:
                found[(partition, record.offset)] = (record.key, record.value)
    # Offsets the broker answered past, or beyond its high watermark, are not in the log.
    remaining = [
        o for o in wanted.offsets if (partition, o) not in found and last_seen < o < highwater
    ]
    if last_seen == -1 and remaining:
        wanted.empty_answers += 1
        if wanted.empty_answers > _EMPTY_RETRIES:
            remaining.pop(0)  # the broker keeps answering nothing for it: give up on it
            wanted.empty_answers = 0
    if remaining:
        wanted.offsets = remaining
    else:
        del pending[partition]


# ------------------------------------------------------------------------- whole-log reads


async def verify_topic(
    settings: HubSettings,
    codec: Codec,
    *,
    topic: str = AUDIT.name,
    heads: Mapping[UUID, ChainHead] | None = None,
    timeout_s: float = 120.0,
) -> tuple[VerificationReport, bool]:
    """Verify every chain in ``topic``, read to its high watermark; (report, complete)."""
    consumer = _consumer(settings)
    verifier = ChainVerifier()
    count = 0

    def on_batch(batch: Mapping[TopicPartition, list[Any]], _progress: dict[int, int]) -> None:
        # A case lives in one partition, read in offset order: chains can be checked as
        # batches arrive, keeping only a few fields per entry in memory.
        nonlocal count
        for tp, records in batch.items():
            for r in records:
                position = Position(count, tp.partition, r.offset)
                verifier.add(decode_record(codec, r.value, key=r.key, position=position))
                count += 1

    try:
        await consumer.start()
        tps = await _partitions(consumer, topic)
        complete, _ = await _read_to_high_watermark(
            consumer, dict.fromkeys(tps, 0), time.monotonic() + timeout_s, on_batch
        )
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        await consumer.stop()
    return verifier.report(heads), complete


async def append_entries(
    settings: HubSettings, codec: Codec, entries: Iterable[AuditEntry], *, topic: str = AUDIT.name
) -> list[tuple[int, int]]:
    """Append entries to the audit topic keyed by case id; their (partition, offset).

    For tools (``hub erase``, tests, benchmarks): the routing worker writes its entries
    through its own outbox, as the single writer of each case's chain.
    """
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, codec.encode_event(e), key=str(e.case_id).encode())
            for e in entries
        ]
        sent = await asyncio.gather(*futures)
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot write {topic}: {exc}") from exc
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in sent]


# ------------------------------------------------------------------------- the agent


async def _serve(settings: HubSettings) -> int:
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with AuditIndex.open(settings) as index:
        log.info("audit_index.started", path=str(index.path), topic=index.topic)
        total = await run_indexer(settings, index, codec, stop)
    log.info("audit_index.stopped", indexed=total)
    return 0


def main() -> None:
    """Run the indexer until SIGTERM or Ctrl-C."""
    settings = get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    raise SystemExit(asyncio.run(_serve(settings)))


if __name__ == "__main__":
    main()
