"""What the routing loop tells its observers: the one place the worker's counting hooks in.

The loop never counts by hand: it calls a ``RouterHooks`` at each step (a batch read, a
record ingested, an event decided, an outcome applied, a dead letter written, a refusal
notified, a deadline fired, a rebalance, the time a phase took). Observers — the worker's
stats, which the Prometheus collector reads at scrape time — subclass it and override what
they need; every hook does nothing by default.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.contracts.enums import DeadLetterReason
from hub.flow.decisions import AuditNote, Outcome


class RouterHooks:
    """The routing loop's hooks; each does nothing unless an observer overrides it."""

    def batch_read(self, records: int) -> None:
        """A batch of ``records`` owned records is about to be processed."""

    def received(self, topic: str, subject: str) -> None:
        """One record ingested from ``topic``: its event type, or "rejected" at ingest."""

    def decided(self, outcome: Outcome) -> None:
        """The flow decided about one inbound event (a duplicate included)."""

    def outcome_applied(self, outcome: Outcome, notes: Sequence[AuditNote]) -> None:
        """An outcome's deliveries, hub records and audit notes were written."""

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        """One dead letter was written."""

    def refusal_notice(self, agency: str, *, sent: bool) -> None:
        """A refusal of ``agency``'s record was notified to it (``sent``) or only counted
        (over its notice budget)."""

    def states_written(self, topic: str, count: int) -> None:
        """``count`` changed case states were written to their changelog ``topic``."""

    def escalated(self, steps: int) -> None:
        """A deadline tick fired ``steps`` ladder steps of one deadline."""

    def batch_done(self, seconds: float, timestamps_ms: Sequence[int]) -> None:
        """A batch took ``seconds`` until every write was acknowledged; its records had these
        broker timestamps."""

    def spent(self, phase: str, seconds: float) -> None:
        """A phase of the loop (fetch, process, commit, tick) took ``seconds``."""

    def rebalanced(self, partitions: set[int]) -> None:
        """The worker now owns ``partitions`` (states rebuilt)."""


class HookChain(RouterHooks):
    """Several observers behind one ``RouterHooks``, called in order."""

    def __init__(self, observers: Sequence[RouterHooks]) -> None:
        self.observers = tuple(observers)

    def batch_read(self, records: int) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.batch_read(records)

    def received(self, topic: str, subject: str) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.received(topic, subject)

    def decided(self, outcome: Outcome) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.decided(outcome)

    def outcome_applied(self, outcome: Outcome, notes: Sequence[AuditNote]) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.outcome_applied(outcome, notes)

    def dead_lettered(self, reason: DeadLetterReason) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.dead_lettered(reason)

    def refusal_notice(self, agency: str, *, sent: bool) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.refusal_notice(agency, sent=sent)

    def states_written(self, topic: str, count: int) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.states_written(topic, count)

    def escalated(self, steps: int) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.escalated(steps)

    def batch_done(self, seconds: float, timestamps_ms: Sequence[int]) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.batch_done(seconds, timestamps_ms)

    def spent(self, phase: str, seconds: float) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.spent(phase, seconds)

    def rebalanced(self, partitions: set[int]) -> None:
        """Tell every observer."""
        for observer in self.observers:
            observer.rebalanced(partitions)
