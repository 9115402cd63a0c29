"""Deadlines closed by their cause (``hub.rules.deadlines.closure``): which answer closes
which deadline, and which withdrawal closes which request. Table-driven, in fast time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from hub.contracts.enums import AckStatus, AgencyRole, Urgency
from hub.rules.deadlines.answers import CloseReason
from hub.rules.deadlines.closure import on_final_answer, on_sharing_stopped
from hub.rules.deadlines.open_deadline import OpenDeadline, open_deadline
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END, DeadlinePolicy
from hub.runtime.settings import PROJECT_ROOT

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PERMIT = "fr.nrm.PermitRequested"
SUPPORT = "fr.nrm.SupportRequested"
CASE, PERMIT_ID, SUPPORT_ID = uuid4(), uuid4(), uuid4()


@pytest.fixture(scope="module")
def policy() -> DeadlinePolicy:
    return DeadlinePolicy.load(PROJECT_ROOT / "deploy" / "config" / "deadlines.yaml")


def deadline(
    policy: DeadlinePolicy, message_type: str, request_id: UUID, recipient: str, role: AgencyRole
) -> OpenDeadline:
    return open_deadline(
        case_id=CASE,
        request_id=request_id,
        recipient_agency=recipient,
        recipient_role=role,
        message_type=message_type,
        departement="93",
        minor=False,
        urgency=Urgency.ROUTINE,
        opened_at=NOW,
        policy=policy,
    )


@pytest.fixture(scope="module")
def deadlines(policy: DeadlinePolicy) -> dict[str, OpenDeadline]:
    prefecture = AgencyRole.PREFECTURE
    return {
        "permit": deadline(policy, PERMIT, PERMIT_ID, "prefecture-93", prefecture),
        "reflection": deadline(
            policy, REFLECTION_PERIOD_END, PERMIT_ID, "prefecture-93", prefecture
        ),
        "other reflection": deadline(
            policy, REFLECTION_PERIOD_END, uuid4(), "prefecture-93", prefecture
        ),
        "support": deadline(
            policy, SUPPORT, SUPPORT_ID, "association-93", AgencyRole.SUPPORT_ASSOCIATION
        ),
    }


# (answer status, subject of the answered request, recipient that answered) → closed deadlines
FINAL_ANSWERS = [
    (AckStatus.COMPLETED, PERMIT, "prefecture-93", {"reflection"}),
    (AckStatus.ACCEPTED, PERMIT, "prefecture-93", set()),  # a receipt: the answer is pending
    (AckStatus.NEEDS_INFORMATION, PERMIT, "prefecture-93", set()),
    (AckStatus.DECLINED, PERMIT, "prefecture-93", set()),  # re-routed, not decided
    (AckStatus.COMPLETED, PERMIT, "prefecture-75", set()),  # not the prefecture asked
    (AckStatus.COMPLETED, SUPPORT, "prefecture-93", set()),  # nothing waits on support
]


@pytest.mark.parametrize(("status", "subject", "recipient", "closed"), FINAL_ANSWERS)
def test_only_the_permits_final_answer_closes_its_reflection_deadline(
    deadlines: dict[str, OpenDeadline],
    status: AckStatus,
    subject: str,
    recipient: str,
    closed: set[str],
) -> None:
    later = NOW + timedelta(days=3)
    decisions = on_final_answer(
        deadlines.values(),
        request_id=PERMIT_ID,
        subject=subject,
        recipient=recipient,
        status=status,
        now=later,
    )
    by_id = {d.deadline_id: name for name, d in deadlines.items()}
    assert {by_id[c.deadline_id] for c in decisions} == closed
    assert all(c.reason is CloseReason.PERMIT_DECIDED and c.at == later for c in decisions)


def test_a_reflection_deadline_past_its_ladder_is_closed_as_a_resolved_orphan(
    deadlines: dict[str, OpenDeadline],
) -> None:
    exhausted = deadlines["reflection"]
    exhausted = OpenDeadline.from_dict({**exhausted.to_dict(), "next_step": len(exhausted.steps)})
    (closed,) = on_final_answer(
        [exhausted],
        request_id=PERMIT_ID,
        subject=PERMIT,
        recipient="prefecture-93",
        status=AckStatus.COMPLETED,
        now=NOW + timedelta(days=40),
    )
    assert closed.resolved_orphan


# stopped (request, recipient) pairs → closed deadlines
STOPPED = [
    ({(SUPPORT_ID, "association-93")}, {"support"}),
    ({(SUPPORT_ID, "association-75")}, set()),  # same request, another recipient
    (set(), set()),
    ({(PERMIT_ID, "prefecture-93")}, {"permit", "reflection"}),
]


@pytest.mark.parametrize(("stopped", "closed"), STOPPED)
def test_a_withdrawal_closes_the_deadlines_of_the_requests_it_stops(
    deadlines: dict[str, OpenDeadline], stopped: set[tuple[UUID, str]], closed: set[str]
) -> None:
    decisions = on_sharing_stopped(deadlines.values(), stopped, NOW)
    by_id = {d.deadline_id: name for name, d in deadlines.items()}
    assert {by_id[c.deadline_id] for c in decisions} == closed
    assert all(c.reason is CloseReason.CONSENT_WITHDRAWN for c in decisions)
