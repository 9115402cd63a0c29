"""How long each agency takes to answer, learnt from the audit trail (pure, bounded memory).

The case states keep only *open* requests: an answered request leaves the state, and with it
the instant it was answered. The audit trail keeps both ends, so the acknowledgement time of a
request is measured there, per case, in log order:

- the request's deadline opens: a ``ROUTED`` entry with decision ``deadline opened`` and the
  recipient agency (``recorded_at`` = when the request reached the hub);
- the recipient answers: a ``RECEIVED`` entry whose actor is the answering agency, followed by
  an ``ACKNOWLEDGED`` entry of the same event with decision ``acknowledgement <STATUS>``, or
  an identifying authority's ``identification decision`` on a report (``is_answer``, shared
  with the monitoring figures in ``hub.rules.answer_times``).

The first answer of any status (accepted, declined, needs information, completed) ends the
measurement: it is when the agency reacted. Several open requests to one agency in one case
are paired first in, first out. An entry whose seq is not above the last one seen for its case
is a redelivery and is skipped. The decision texts are those of ``hub/flow/delivery.py`` and
``hub/flow/answers.py``; a test on the real worker pins them.

Memory is bounded: the last ``per_agency`` delays of each agency, and the pending requests of
at most ``max_cases`` cases (the least recently active forgotten first).
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from hub.contracts.enums import AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.rules.answer_times import DEADLINE_OPENED, is_answer, percentile


@dataclass(frozen=True)
class AckSummary:
    """An agency's answer times over its last answers (seconds)."""

    answered: int
    median_s: float | None
    p90_s: float | None


@dataclass
class _CaseTrack:
    last_seq: int = -1
    received: tuple[UUID | None, str] | None = None
    pending: dict[str, deque[datetime]] = field(default_factory=dict)


class AckTimes:
    """Acknowledgement delays per agency; ``add`` each audit entry in log order."""

    def __init__(self, *, per_agency: int = 1000, max_cases: int = 200_000) -> None:
        self.per_agency = per_agency
        self.max_cases = max_cases
        self._cases: OrderedDict[UUID, _CaseTrack] = OrderedDict()
        self._delays: dict[str, deque[float]] = {}

    def add(self, entry: AuditEntry) -> None:
        """Learn from one entry (O(1))."""
        track = self._cases.get(entry.case_id)
        if track is None:
            track = self._cases[entry.case_id] = _CaseTrack()
            if len(self._cases) > self.max_cases:
                self._cases.popitem(last=False)
        else:
            self._cases.move_to_end(entry.case_id)
        if entry.seq <= track.last_seq:
            return
        track.last_seq = entry.seq
        if entry.action is AuditAction.RECEIVED:
            track.received = (entry.event_id, entry.actor)
        elif (
            entry.action is AuditAction.ROUTED
            and entry.decision == DEADLINE_OPENED
            and entry.recipient
        ):
            track.pending.setdefault(entry.recipient, deque()).append(entry.recorded_at)
        elif (
            is_answer(entry) and track.received is not None and track.received[0] == entry.event_id
        ):
            responder = track.received[1]
            opened = track.pending.get(responder)
            if opened:
                delay = (entry.recorded_at - opened.popleft()).total_seconds()
                delays = self._delays.setdefault(responder, deque(maxlen=self.per_agency))
                delays.append(max(0.0, delay))

    def summary(self, agency_id: str) -> AckSummary:
        """Median and 90th percentile of the agency's last answers."""
        delays = list(self._delays.get(agency_id, ()))
        if not delays:
            return AckSummary(0, None, None)
        return AckSummary(len(delays), statistics.median(delays), percentile(delays, 0.9))
