"""The audit case index: which offsets of ``nrm.audit`` hold each case's entries.

A durable sqlite file in ``HubSettings.data_dir``: case id → (partition, offset, seq, hash),
plus how far each partition is indexed, written in the same transaction as the rows it
covers, so a restart resumes exactly where it stopped. The progress table *is* the committed
offset: the indexer joins no consumer group (``agents.audit_index.indexer``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from hub.audit.chain import AUDIT_SUBJECT, ChainHead
from hub.contracts.codec import Codec, CodecError
from hub.contracts.topics import AUDIT
from hub.runtime.settings import HubSettings

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
