"""The routing worker's counters: an observer of the loop's hooks, read by the metrics.

``RouterStats`` subscribes to ``agents.hooks.RouterHooks``; the Prometheus collector
(``agents.metrics``) turns its plain counters and histograms into metric families at scrape
time, so nothing is counted twice and the loop never counts by hand.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from agents.hooks import RouterHooks
from hub.contracts.enums import AuditAction, DeadLetterReason
from hub.contracts.topics import AUDIT, DEAD_LETTERS, inbox_topic
from hub.flow.decisions import AuditNote, Outcome
from hub.flow.refusal_notice import REFUSAL_NOTICE

BATCH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RECORD_LATENCY_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
DEAD_LETTER_SUBJECT: Final = "fr.nrm.DeadLetter"
AUDIT_SUBJECT: Final = "fr.nrm.AuditEntry"
CASE_STATE_SUBJECT: Final = "case-state"  # JSON, hub-internal: not an Avro subject
_AUDIT_KEY: Final = (AUDIT.name, AUDIT_SUBJECT)


class LatencyHistogram:
    """A fixed-bucket histogram the stats observe into (one event loop: no locks)."""

    def __init__(self, buckets: Sequence[float] = BATCH_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one observation: O(log buckets)."""
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        """How many observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: (upper bound, observations at or below it), ending with +Inf."""
        running = 0
        result: list[tuple[str, float]] = []
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            result.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return result


def record_latency_histogram() -> LatencyHistogram:
    """The histogram of record latency (broker timestamp to every write acknowledged)."""
    return LatencyHistogram(RECORD_LATENCY_BUCKETS)


@dataclass
class RouterStats(RouterHooks):
    """Counters the worker keeps, fed by the loop's hooks (exported by ``agents.metrics``)."""

    records: int = 0
    routed: int = 0
    delivered: int = 0
    held: int = 0
    duplicates: int = 0
    escalations: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    refusal_notices: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    events_in: dict[tuple[str, str], int] = field(default_factory=dict)
    events_out: dict[tuple[str, str], int] = field(default_factory=dict)
    audit_actions: dict[str, int] = field(default_factory=dict)
    batch_seconds: LatencyHistogram = field(default_factory=LatencyHistogram)
    loop_seconds: dict[str, float] = field(default_factory=dict)
    record_latency: LatencyHistogram = field(default_factory=record_latency_histogram)

    def batch_read(self, records: int) -> None:
        """Count the records of a batch."""
        self.records += records

    def received(self, topic: str, subject: str) -> None:
        """Count one record read, by topic and event type ("rejected" when refused at ingest)."""
        self.events_in[(topic, subject)] = self.events_in.get((topic, subject), 0) + 1

    def decided(self, outcome: Outcome) -> None:
        """Count a duplicate, or a routed event and the messages it held for consent."""
        if outcome.duplicate:
            self.duplicates += 1
            return
        self.routed += 1
        for note in outcome.audit:  # a loop, not sum() over a generator: every event passes
            if note.action is AuditAction.HELD:
                self.held += 1

    def outcome_applied(self, outcome: Outcome, notes: Sequence[AuditNote]) -> None:
        """Count what an outcome wrote: deliveries, hub records, audit entries by action.

        Every event passes here (~3 audit notes each): the counts are updated in place, with
        no call per note."""
        out = self.events_out
        for delivery in outcome.deliveries:
            key = (inbox_topic(delivery.recipient.id), delivery.subject)
            out[key] = out.get(key, 0) + 1
        for record in outcome.published:
            key = (record.topic, record.subject)
            out[key] = out.get(key, 0) + 1
        actions = self.audit_actions
        for note in notes:
            action = note.action.value
            actions[action] = actions.get(action, 0) + 1
        out[_AUDIT_KEY] = out.get(_AUDIT_KEY, 0) + len(notes)
        self.delivered += len(outcome.deliveries)

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        """Count one dead letter by reason (and the record written)."""
        self.dead_letters[reason.value] = self.dead_letters.get(reason.value, 0) + 1
        self.wrote(DEAD_LETTERS.name, DEAD_LETTER_SUBJECT)

    def refusal_notice(self, agency: str, *, sent: bool) -> None:
        """Count a refusal notice written (and the record) or withheld by the budget."""
        outcome = "sent" if sent else "withheld"
        self.refusal_notices[outcome] = self.refusal_notices.get(outcome, 0) + 1
        if sent:
            self.wrote(inbox_topic(agency), REFUSAL_NOTICE)

    def states_written(self, topic: str, count: int) -> None:
        """Count the case states written (with the other writes)."""
        self.wrote(topic, CASE_STATE_SUBJECT, count)

    def escalated(self, steps: int) -> None:
        """Count the ladder steps a tick fired."""
        self.escalations += steps

    def batch_done(self, seconds: float, timestamps_ms: Sequence[int]) -> None:
        """Count a batch, its duration and each record's latency (broker timestamp to now)."""
        self.batches += 1
        self.batch_seconds.observe(seconds)
        acked_ms = time.time() * 1000
        for timestamp_ms in timestamps_ms:
            self.record_latency.observe(max(0.0, (acked_ms - timestamp_ms) / 1000))

    def spent(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to a phase of the loop: where the worker's time goes (fetch,
        process, commit, tick), working or waiting."""
        self.loop_seconds[phase] = self.loop_seconds.get(phase, 0.0) + seconds

    def wrote(self, topic: str, subject: str, count: int = 1) -> None:
        """Count records written, by topic and event type."""
        self.events_out[(topic, subject)] = self.events_out.get((topic, subject), 0) + count
