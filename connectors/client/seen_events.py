"""The event ids a client has already handed to its agency, so a redelivery is dropped.

Under at-least-once the same inbox event can arrive twice: the broker redelivers what a
consumer read but did not commit (a restart, a rebalance), and a hub worker that crashed
mid-batch writes the batch's deliveries again at new offsets. Both copies carry the same event
id. Kept in memory, the ids protect one running client; kept in a sqlite file (``path``), they
also protect a client that restarts — the case an agency's own crash produces.

An id is recorded when the client hands the message over: an application that must not lose
a message it was handed stores it before asking for more (or commits only once it has).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import OrderedDict
from pathlib import Path

DEFAULT_LIMIT = 100_000
TRIM_EVERY = 1_000


class SeenEvents:
    """A bounded set of event ids, oldest forgotten first; optionally on disk."""

    def __init__(self, path: Path | None = None, *, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._memory: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._added = 0

    def first_time(self, event_id: uuid.UUID) -> bool:
        """Record ``event_id``; True the first time it is seen, False for a redelivery."""
        if self._path is None:
            return self._remember_in_memory(event_id)
        inserted = (
            self._open()
            .execute("INSERT OR IGNORE INTO seen (event_id) VALUES (?)", (str(event_id),))
            .rowcount
        )
        if inserted:
            self._added += 1
            if self._added % TRIM_EVERY == 0:
                self._trim()
        return inserted == 1

    def __len__(self) -> int:
        if self._path is None:
            return len(self._memory)
        (count,) = self._open().execute("SELECT COUNT(*) FROM seen").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the file (a no-op in memory); the next call opens it again."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            assert self._path is not None
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit in WAL with synchronous=NORMAL: each id is durable against a crash of
            # the process (not of the machine) without an fsync per message.
            self._db = sqlite3.connect(self._path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS seen ("
                "n INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE)"
            )
        return self._db

    def _remember_in_memory(self, event_id: uuid.UUID) -> bool:
        if event_id in self._memory:
            return False
        self._memory[event_id] = None
        while len(self._memory) > self.limit:
            self._memory.popitem(last=False)
        return True

    def _trim(self) -> None:
        self._open().execute(
            "DELETE FROM seen WHERE n <= (SELECT MAX(n) FROM seen) - ?", (self.limit,)
        )
