"""Answer deadlines read back from the audit trail: when each opened, when it was due, when
its recipient first answered (pure).

The case states keep only *open* requests; the audit trail keeps both ends, in log order per
case:

- the request's deadline opens: a ``ROUTED`` entry with decision ``deadline opened``, the
  recipient agency and reason ``due <ISO instant>`` (``hub/flow/delivery.py``);
- the recipient answers: a ``RECEIVED`` entry whose actor is the answering agency, then an
  ``ACKNOWLEDGED`` entry of the same event with decision ``acknowledgement <STATUS>``
  (``hub/flow/answers.py``) or, for a report, a ``CASE_TRANSITION`` entry
  ``identification decision <OUTCOME>`` (``hub/flow/identification.py``): an identifying
  authority answers a report with its decision, reasonable grounds included.

The first answer of any status ends the measurement: it is when the agency reacted. Several
open deadlines of one agency in one case are paired first in, first out. An entry whose seq is
not above the last one seen for its case is a redelivery and is skipped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from hub.contracts.enums import AuditAction
from hub.contracts.hub_records import AuditEntry

DEADLINE_OPENED: Final = "deadline opened"
ANSWER_PREFIX: Final = "acknowledgement "
DECISION_PREFIX: Final = "identification decision "
DUE_PREFIX: Final = "due "


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class AnswerDeadline:
    """One answer deadline: its recipient, when it opened and was due, its first answer."""

    case_id: UUID
    recipient: str
    opened_at: datetime
    due_at: datetime | None
    answered_at: datetime | None = None

    def on_time(self) -> bool | None:
        """Answered by the due instant (True), late or past due unanswered (False); None
        when the due instant is unknown."""
        if self.due_at is None:
            return None
        return self.answered_at is not None and self.answered_at <= self.due_at

    def overdue_at(self) -> datetime | None:
        """When it became overdue (its due instant), if it was not answered by then."""
        return self.due_at if self.on_time() is False else None


@dataclass
class _Track:
    last_seq: int = -1
    received: tuple[UUID | None, str] | None = None
    pending: dict[str, deque[int]] = field(default_factory=dict)


def _due(reason: str | None) -> datetime | None:
    if not reason or not reason.startswith(DUE_PREFIX):
        return None
    try:
        return datetime.fromisoformat(reason[len(DUE_PREFIX) :])
    except ValueError:
        return None


def answer_deadlines(entries: Iterable[AuditEntry]) -> list[AnswerDeadline]:
    """Every answer deadline of ``entries`` (in log order per case), answered or not."""
    found: list[AnswerDeadline] = []
    tracks: dict[UUID, _Track] = {}
    for entry in entries:
        track = tracks.setdefault(entry.case_id, _Track())
        if entry.seq <= track.last_seq:
            continue
        track.last_seq = entry.seq
        if entry.action is AuditAction.RECEIVED:
            track.received = (entry.event_id, entry.actor)
        elif (
            entry.action is AuditAction.ROUTED
            and entry.decision == DEADLINE_OPENED
            and entry.recipient
        ):
            due = _due(entry.reason)
            found.append(AnswerDeadline(entry.case_id, entry.recipient, entry.recorded_at, due))
            track.pending.setdefault(entry.recipient, deque()).append(len(found) - 1)
        elif (
            is_answer(entry) and track.received is not None and track.received[0] == entry.event_id
        ):
            waiting = track.pending.get(track.received[1])
            if waiting:
                index = waiting.popleft()
                found[index] = _answered(found[index], entry.recorded_at)
    return found


def is_answer(entry: AuditEntry) -> bool:
    """Whether an entry records an answer (to be paired with the RECEIVED entry before it)."""
    decision = entry.decision or ""
    return (entry.action is AuditAction.ACKNOWLEDGED and decision.startswith(ANSWER_PREFIX)) or (
        entry.action is AuditAction.CASE_TRANSITION and decision.startswith(DECISION_PREFIX)
    )


def _answered(deadline: AnswerDeadline, at: datetime) -> AnswerDeadline:
    return AnswerDeadline(
        deadline.case_id, deadline.recipient, deadline.opened_at, deadline.due_at, at
    )
