"""The case page lists a case's history in business-time order (issue 21, finding 5): under a
simulated clock, the chain's order and the recorded instants can disagree by a lag, and the
page follows the instants; entries of one event (one instant) keep the chain's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.dashboard.case_view import business_order
from hub.audit.replay import PayloadState, TimelineRow
from hub.contracts.enums import AgencyRole, AuditAction

T0 = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)


def row(seq: int, minutes: float, action: AuditAction) -> TimelineRow:
    return TimelineRow(
        seq=seq,
        recorded_at=T0 + timedelta(minutes=minutes),
        actor="hub",
        actor_role=AgencyRole.HUB,
        action=action,
        decision=None,
        reason=None,
        legal_basis=None,
        recipient=None,
        categories=(),
        event_id=None,
        payload=None,
        payload_state=PayloadState.NONE,
    )


def test_rows_follow_the_business_clock_and_one_events_rows_keep_the_chains_order() -> None:
    received = row(0, 0, AuditAction.RECEIVED)
    routed = row(1, 0, AuditAction.ROUTED)  # same instant: same event
    # The tick fired at 5 days (simulated) before the worker read an answer the broker had
    # taken at 4 days 23 h: the chain has the escalation first, the business clock the answer.
    escalated = row(2, 5 * 24 * 60, AuditAction.ESCALATED)
    answered = row(3, 5 * 24 * 60 - 60, AuditAction.RECEIVED)
    acknowledged = row(4, 5 * 24 * 60 - 60, AuditAction.ACKNOWLEDGED)
    rows = [received, routed, escalated, answered, acknowledged]
    assert [r.seq for r in business_order(rows)] == [0, 1, 3, 4, 2]
    assert [r.seq for r in business_order(reversed(rows))] == [0, 1, 3, 4, 2]
