"""A prefecture's local work queue of permit requests, in one sqlite file.

Pure bookkeeping over ``sqlite3``: no Kafka, no clock of its own (callers pass ``now``).
``add`` is idempotent by request id (a redelivered or re-synced request is kept once);
``answer`` records the clerk's answer and moves the item along its states:

    pending ──receipt──▶ receipt ──granted | refused──▶ closed
    pending ──granted | refused──▶ closed

needs-information keeps the state. A receipt answers the hub's deadline (ACCEPTED) and keeps
the request open there for the decision (COMPLETED), as here.

Each request keeps the name of the person the clerk issues the permit to (``first_name``,
``last_name``, as the hub's projection for a prefecture carries them when consent covers
identity; NULL otherwise): the queue holds identity data, declared in docs/PRIVACY.md.
A queue file written before the names were kept gains the two columns when opened.

``apply_notice`` acts on the hub's ``ErasureNotice`` for a case (RGPD art. 19): ERASED means
the hub erased the case with no legal hold left (no permit decision pending there), so the
queue erases what it holds of the person (names and ``person_ref``, overwritten on disk:
``secure_delete``) and closes the case's open requests; RESTRICTED and RESTRICTION_LIFTED are
recorded for the clerk. Every notice is kept in ``case_notices`` (ids and outcome only).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from hub.contracts.enums import AckStatus, ErasureOutcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS permit_requests (
    request_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    departement TEXT NOT NULL,
    permit_type TEXT NOT NULL,
    person_ref TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    first_name TEXT,
    last_name TEXT
);
CREATE TABLE IF NOT EXISTS case_notices (
    case_id TEXT NOT NULL,
    notice_id TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    holds TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    request_id TEXT NOT NULL REFERENCES permit_requests(request_id),
    answer TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    answered_at TEXT NOT NULL
);
"""
NAME_COLUMNS = ("first_name", "last_name")
"""Added to ``permit_requests`` after the first release: opened queues gain them."""
SELECT_ITEMS = (
    "SELECT request_id, case_id, event_id, departement, permit_type, person_ref, received_at,"
    " state, first_name, last_name FROM permit_requests"
)


class Answer(StrEnum):
    """What a clerk can answer to a permit request."""

    RECEIPT = "receipt"
    GRANTED = "granted"
    REFUSED = "refused"
    NEEDS_INFORMATION = "needs-information"


PENDING = "pending"
RECEIPT = "receipt"
CLOSED = "closed"
ERASED = "erased"
OPEN_STATES = (PENDING, RECEIPT)
ERASED_REF = "[effacé]"
"""What ``person_ref`` reads once the hub's erasure notice has been applied."""


@dataclass(frozen=True)
class AckFields:
    """The Acknowledgement an answer becomes, the states it may follow and the one it leads
    to (None: unchanged)."""

    status: AckStatus
    detail: str
    after: tuple[str, ...]
    leads_to: str | None


ANSWERS: dict[Answer, AckFields] = {
    Answer.RECEIPT: AckFields(AckStatus.ACCEPTED, "récépissé délivré", (PENDING,), RECEIPT),
    Answer.GRANTED: AckFields(AckStatus.COMPLETED, "titre de séjour accordé", OPEN_STATES, CLOSED),
    # A refusal is the prefecture's decision on the request, not a decline to handle it:
    # DECLINED would make the hub re-route the request to another prefecture.
    Answer.REFUSED: AckFields(AckStatus.COMPLETED, "refus", OPEN_STATES, CLOSED),
    Answer.NEEDS_INFORMATION: AckFields(
        AckStatus.NEEDS_INFORMATION, "pièces complémentaires demandées", OPEN_STATES, None
    ),
}


@dataclass(frozen=True)
class QueueItem:
    """One permit request in the work queue: the person's reference and, when the hub's
    projection carried it, the name the permit is issued to."""

    request_id: UUID
    case_id: UUID
    event_id: UUID
    departement: str
    permit_type: str
    person_ref: str
    received_at: str
    state: str
    first_name: str | None = None
    last_name: str | None = None

    @property
    def person(self) -> str:
        """The name as a clerk files it (``NOM Prénom``), or ``—`` when the hub sent none."""
        name = " ".join(
            part for part in ((self.last_name or "").upper(), self.first_name or "") if part
        )
        return name or "—"


class QueueError(Exception):
    """A request the queue does not have, or one already closed."""


QUEUE_FILE_MODE = 0o600
"""The queue holds names: readable by its owner only (SQLite gives its journal the same)."""


def _owner_only(path: Path) -> None:
    """Create the queue file readable by its owner only, or tighten an existing one."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, QUEUE_FILE_MODE)
    try:
        os.fchmod(descriptor, QUEUE_FILE_MODE)
    finally:
        os.close(descriptor)


class WorkQueue:
    """The sqlite work queue; use as a context manager or call ``close``."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            _owner_only(Path(path))
        self._db = sqlite3.connect(str(path))
        # Erased names must not survive in freed pages of the file.
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.executescript(SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(permit_requests)")}
        for column in NAME_COLUMNS:
            if column not in present:
                self._db.execute(f"ALTER TABLE permit_requests ADD COLUMN {column} TEXT")
        self._db.commit()

    def __enter__(self) -> WorkQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add(
        self,
        *,
        request_id: UUID,
        case_id: UUID,
        event_id: UUID,
        departement: str,
        permit_type: str,
        person_ref: str,
        now: datetime,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> bool:
        """Queue a request; False when its request id is already queued (idempotent)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO permit_requests"
            " (request_id, case_id, event_id, departement, permit_type, person_ref, received_at,"
            " first_name, last_name)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(request_id),
                str(case_id),
                str(event_id),
                departement,
                permit_type,
                person_ref,
                now.isoformat(),
                first_name,
                last_name,
            ),
        )
        self._db.commit()
        return cursor.rowcount == 1

    def get(self, request_id: UUID) -> QueueItem | None:
        """The queued request, if any."""
        row = self._db.execute(
            SELECT_ITEMS + " WHERE request_id = ?", (str(request_id),)
        ).fetchone()
        return _item(row) if row else None

    def pending(self) -> list[QueueItem]:
        """Requests still waiting for a decision (with or without a receipt), oldest first."""
        rows = self._db.execute(
            SELECT_ITEMS + " WHERE state IN (?, ?) ORDER BY received_at, rowid",
            OPEN_STATES,
        ).fetchall()
        return [_item(row) for row in rows]

    def request_ids(self) -> list[UUID]:
        """Every queued request's id (a clerk may name one by a unique prefix)."""
        return [UUID(row[0]) for row in self._db.execute("SELECT request_id FROM permit_requests")]

    def answer(
        self, request_id: UUID, answer: Answer, now: datetime
    ) -> tuple[QueueItem, AckFields]:
        """Record ``answer``; returns the item and the acknowledgement to publish.

        Raises ``QueueError`` for an unknown request, one already decided, or a second
        receipt (the hub would dead-letter a further answer as UNKNOWN_REQUEST)."""
        item = self.get(request_id)
        if item is None:
            raise QueueError(f"aucune demande de titre {request_id} dans la file de travail")
        fields = ANSWERS[answer]
        if item.state not in fields.after:
            raise QueueError(
                f"la demande de titre {request_id} a déjà une réponse ({item.state}) :"
                f" {answer.value} n'est plus possible"
            )
        self._db.execute(
            "INSERT INTO answers (request_id, answer, status, detail, answered_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (str(request_id), answer.value, fields.status.value, fields.detail, now.isoformat()),
        )
        if fields.leads_to is not None:
            self._set_state(request_id, fields.leads_to)
        self._db.commit()
        return item, fields

    def apply_notice(
        self,
        *,
        notice_id: UUID,
        case_id: UUID,
        outcome: ErasureOutcome,
        holds: tuple[str, ...],
        now: datetime,
    ) -> int:
        """Act on the hub's erasure notice for ``case_id``; returns how many requests of the
        case it erased (ERASED: names and ``person_ref`` wiped, open requests closed as
        ``erased``). Idempotent by notice id."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO case_notices (case_id, notice_id, outcome, holds, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (str(case_id), str(notice_id), outcome.value, ",".join(holds), now.isoformat()),
        )
        erased = 0
        if cursor.rowcount == 1 and outcome is ErasureOutcome.ERASED:
            erased = self._db.execute(
                "UPDATE permit_requests SET first_name = NULL, last_name = NULL,"
                " person_ref = ?, state = CASE WHEN state IN (?, ?) THEN ? ELSE state END"
                " WHERE case_id = ?",
                (ERASED_REF, *OPEN_STATES, ERASED, str(case_id)),
            ).rowcount
        self._db.commit()
        return erased

    def notices(self, case_id: UUID) -> list[tuple[ErasureOutcome, tuple[str, ...]]]:
        """The hub's erasure notices for ``case_id``, in the order they came."""
        rows = self._db.execute(
            "SELECT outcome, holds FROM case_notices WHERE case_id = ? ORDER BY rowid",
            (str(case_id),),
        ).fetchall()
        return [(ErasureOutcome(o), tuple(h for h in str(hs).split(",") if h)) for o, hs in rows]

    def reopen(self, request_id: UUID) -> None:
        """Undo the last answer (used when publishing it failed): the state is the one the
        remaining answers give."""
        self._db.execute(
            "DELETE FROM answers WHERE rowid = (SELECT MAX(rowid) FROM answers"
            " WHERE request_id = ?)",
            (str(request_id),),
        )
        receipts = self._db.execute(
            "SELECT COUNT(*) FROM answers WHERE request_id = ? AND answer = ?",
            (str(request_id), Answer.RECEIPT.value),
        ).fetchone()[0]
        self._set_state(request_id, RECEIPT if receipts else PENDING)
        self._db.commit()

    def _set_state(self, request_id: UUID, state: str) -> None:
        self._db.execute(
            "UPDATE permit_requests SET state = ? WHERE request_id = ?", (state, str(request_id))
        )


def _item(row: tuple[str | None, ...]) -> QueueItem:
    return QueueItem(
        request_id=UUID(str(row[0])),
        case_id=UUID(str(row[1])),
        event_id=UUID(str(row[2])),
        departement=str(row[3]),
        permit_type=str(row[4]),
        person_ref=str(row[5]),
        received_at=str(row[6]),
        state=str(row[7]),
        first_name=row[8],
        last_name=row[9],
    )
