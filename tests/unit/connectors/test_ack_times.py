"""Answer times per agency, measured from the audit trail's entries (the directory page)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from connectors.dashboard.ack_times import AckTimes
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.rules.answer_times import percentile

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Case:
    """Writes a case's entries in seq order, as the worker's outbox writer does."""

    def __init__(self) -> None:
        self.case_id = uuid.uuid4()
        self.seq = 0

    def entry(
        self,
        action: AuditAction,
        at: timedelta,
        *,
        actor: str = "hub",
        decision: str | None = None,
        recipient: str | None = None,
        event_id: uuid.UUID | None = None,
        seq: int | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            case_id=self.case_id,
            seq=self.seq if seq is None else seq,
            recorded_at=T0 + at,
            actor=actor,
            actor_role=AgencyRole.HUB,
            event_id=event_id,
            action=action,
            decision=decision,
            recipient=recipient,
            prev_hash=b"\0" * 32,
            hash=b"\1" * 32,
        )
        if seq is None:
            self.seq += 1
        return entry

    def request(self, agency: str, at: timedelta) -> list[AuditEntry]:
        event = uuid.uuid4()
        return [
            self.entry(AuditAction.RECEIVED, at, actor="police-93", event_id=event),
            self.entry(AuditAction.ROUTED, at, decision="delivered x", recipient=agency),
            self.entry(AuditAction.ROUTED, at, decision="deadline opened", recipient=agency),
        ]

    def answer(self, agency: str, at: timedelta, status: str = "ACCEPTED") -> list[AuditEntry]:
        event = uuid.uuid4()
        return [
            self.entry(AuditAction.RECEIVED, at, actor=agency, event_id=event),
            self.entry(
                AuditAction.ACKNOWLEDGED,
                at,
                decision=f"acknowledgement {status}",
                recipient="police-93",
                event_id=event,
            ),
        ]


def feed(times: AckTimes, entries: list[AuditEntry]) -> None:
    for entry in entries:
        times.add(entry)


def test_an_answer_time_runs_from_the_request_to_the_first_answer() -> None:
    times = AckTimes()
    case = Case()
    feed(times, case.request("prefecture-93", timedelta(0)))
    feed(times, case.answer("prefecture-93", timedelta(hours=2), "NEEDS_INFORMATION"))
    feed(times, case.answer("prefecture-93", timedelta(hours=30), "COMPLETED"))  # not counted
    summary = times.summary("prefecture-93")
    assert (summary.answered, summary.median_s, summary.p90_s) == (1, 7200.0, 7200.0)
    assert times.summary("police-93").answered == 0


def test_median_and_p90_over_several_cases() -> None:
    times = AckTimes()
    for hours in range(1, 11):
        case = Case()
        feed(times, case.request("hebergement-93", timedelta(0)))
        feed(times, case.answer("hebergement-93", timedelta(hours=hours), "DECLINED"))
    summary = times.summary("hebergement-93")
    assert summary.answered == 10
    assert summary.median_s == 5.5 * 3600
    assert summary.p90_s == 9 * 3600


def test_two_open_requests_to_one_agency_are_paired_first_in_first_out() -> None:
    times = AckTimes()
    case = Case()
    feed(times, case.request("association-93", timedelta(0)))
    feed(times, case.request("association-93", timedelta(hours=1)))
    feed(times, case.answer("association-93", timedelta(hours=3)))
    feed(times, case.answer("association-93", timedelta(hours=4)))
    assert sorted(times._delays["association-93"]) == [3 * 3600.0, 3 * 3600.0]


def test_a_redelivered_entry_counts_once_and_other_actions_are_ignored() -> None:
    times = AckTimes()
    case = Case()
    entries = case.request("prefecture-93", timedelta(0))
    feed(times, entries)
    feed(times, entries)  # an at-least-once redelivery of the same seqs
    feed(times, [case.entry(AuditAction.ESCALATED, timedelta(hours=1), recipient="x")])
    # An ACKNOWLEDGED note that is not an answer (deadline extended) pairs nothing.
    event = uuid.uuid4()
    feed(times, [case.entry(AuditAction.RECEIVED, timedelta(hours=2), actor="prefecture-93",
                            event_id=event)])  # fmt: skip
    feed(times, [case.entry(AuditAction.ACKNOWLEDGED, timedelta(hours=2),
                            decision="deadline extended", event_id=event)])  # fmt: skip
    assert times.summary("prefecture-93").answered == 0
    feed(times, case.answer("prefecture-93", timedelta(hours=5)))
    assert times.summary("prefecture-93").answered == 1
    assert times.summary("prefecture-93").median_s == 5 * 3600


def test_memory_is_bounded() -> None:
    times = AckTimes(per_agency=5, max_cases=10)
    for n in range(50):
        case = Case()
        feed(times, case.request("prefecture-93", timedelta(0)))
        feed(times, case.answer("prefecture-93", timedelta(minutes=n)))
    assert len(times._cases) <= 10
    assert times.summary("prefecture-93").answered == 5


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 0.9) == 90.0
