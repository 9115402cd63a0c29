"""The event ids a client has already handed to its agency, so a redelivery is dropped.

Under at-least-once the same inbox event can arrive twice: the broker redelivers what a
consumer read but did not commit (a restart, a rebalance), and a hub worker that crashed
mid-batch writes the batch's deliveries again at new offsets. Both copies carry the same event
id. An id is *held* once the client has returned its message and *confirmed* once the
application says it has kept it (the client's commit). Held ids protect the running client;
confirmed ids are also written to a sqlite file (``path``) when there is one, so a restarted
client drops what it had confirmed. A message returned but never confirmed comes back after a
crash (the application may not have kept it): at-least-once, never at-most-once.

One process, one event loop: the sqlite connection is opened lazily on the loop's thread and
must be closed there. Two processes of one agency in one consumer group need one shared
de-duplication of their own (a database both use): each file protects its own process only.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

DEFAULT_LIMIT = 100_000
TRIM_EVERY = 1_000


class SeenEvents:
    """A bounded set of event ids, oldest forgotten first; confirmed ids optionally on disk."""

    def __init__(self, path: Path | None = None, *, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self._path = path
        self._memory: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._pending: dict[uuid.UUID, None] = {}  # in the order handed over
        self._db: sqlite3.Connection | None = None

    def seen(self, event_id: uuid.UUID) -> bool:
        """True if ``event_id`` was handed over already (held or confirmed)."""
        if event_id in self._memory or event_id in self._pending:
            return True
        if self._path is None:
            return False
        row = self._open().execute("SELECT 1 FROM seen WHERE event_id = ?", (str(event_id),))
        return row.fetchone() is not None

    def hold(self, event_ids: Iterable[uuid.UUID]) -> None:
        """Remember ids just handed over, until ``confirm`` (in memory only)."""
        for event_id in event_ids:
            self._pending[event_id] = None
            self._remember(event_id)

    def confirm(self, event_ids: Iterable[uuid.UUID] = ()) -> None:
        """Make ``event_ids`` and every held id durable (one transaction when on disk). If
        the file cannot be written the ids stay held, and the next call writes them."""
        self._pending.update(dict.fromkeys(event_ids))
        ids = list(self._pending)
        if self._path is not None and ids:
            db = self._open()
            with db:
                db.executemany(
                    "INSERT OR IGNORE INTO seen (event_id) VALUES (?)", [(str(i),) for i in ids]
                )
            last = db.execute("SELECT MAX(n) FROM seen").fetchone()[0] or 0
            if last // TRIM_EVERY != (last - len(ids)) // TRIM_EVERY:
                self._trim()
        for event_id in ids:
            self._remember(event_id)
        self._pending.clear()

    def confirm_or_keep(self) -> str | None:
        """``confirm()`` where a failure must not lose what was returned: if the file cannot
        be written the ids stay held (this run drops their copies, the next call writes
        them) and the error is returned for the caller to log."""
        try:
            self.confirm()
        except (sqlite3.Error, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

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

    def _remember(self, event_id: uuid.UUID) -> None:
        self._memory[event_id] = None
        self._memory.move_to_end(event_id)
        while len(self._memory) > self.limit:
            self._memory.popitem(last=False)

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            assert self._path is not None
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # A short lock wait: the file is this process's; never park the event loop long.
            db = sqlite3.connect(self._path, timeout=1.0)
            try:
                # WAL with synchronous=NORMAL: a confirmed id survives a crash of the process
                # (not of the machine) without an fsync per batch.
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                # A plain rowid, not AUTOINCREMENT: an ignored insert must not use up a number.
                db.execute(
                    "CREATE TABLE IF NOT EXISTS seen (n INTEGER PRIMARY KEY, event_id TEXT UNIQUE)"
                )
                self._trim(db)  # a client that restarts often never reaches TRIM_EVERY in a run
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _trim(self, db: sqlite3.Connection | None = None) -> None:
        """Keep the newest ``limit`` ids on disk."""
        db = db or self._open()
        with db:
            db.execute(
                "DELETE FROM seen WHERE n <= (SELECT n FROM seen ORDER BY n DESC LIMIT 1 OFFSET ?)",
                (self.limit,),
            )
