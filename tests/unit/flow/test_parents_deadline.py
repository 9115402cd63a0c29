"""A pending parents-informed step is chased (CASF L226-2-1; docs/LAW.md MI-3, HP-25).

« … sont préalablement informés de cette transmission »: the text sets no time, and the data
have already reached child protection when the step opens, so the hub owes an answer within a
deadline (hub policy, deadlines.yaml ``parents_informed``: 2 working days) and climbs the
ladder when nobody gives it: child protection, its supervisor, national coordination. Any
accepted answer closes it; a refused answer (no real reason) does not.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flow_helpers import NOW, context, envelope, events_for, inbound

from hub.contracts.enums import AgencyRole, AuditAction, EscalationStep
from hub.contracts.events import ParentsInformation, PresumedVictimReport
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.deadline_flow import on_advance
from hub.flow.decisions import Context, Outcome
from hub.flow.parents import step_id
from hub.rules.deadlines.ladder import advance, escalation_event
from hub.rules.deadlines.policy import PARENTS_INFORMED

REASON = "Le père est mis en cause dans l'exploitation de l'enfant (audition du 3 mars)."


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def reported(ctx: Context, *, minor: bool) -> Outcome:
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id), "minor_suspected": minor}
    )
    return handle(CaseState(case_id=case_id), inbound(report, "hopital-93", ctx, 0), ctx, NOW)


def answer(ctx: Context, before: Outcome, sender: str, **fields: object) -> Outcome:
    event = ParentsInformation(envelope=envelope(before.state.case_id), **fields)  # type: ignore[arg-type]
    return handle(before.state, inbound(event, sender, ctx, 1), ctx, NOW + timedelta(hours=1))


def pending(outcome: Outcome) -> list[str]:
    return [
        d.recipient_agency
        for d in outcome.state.open_deadlines()
        if d.message_type == PARENTS_INFORMED
    ]


ANSWERS = [
    # (sender, answer fields, still chased afterwards)
    ("ase-93", {"parents_informed": True}, False),
    ("hopital-93", {"parents_informed": True}, False),  # the reporter may answer too
    ("ase-93", {"parents_informed": False, "contrary_interest_reason": REASON}, False),
    ("ase-93", {"parents_informed": False, "no_legal_representative": True}, False),
    ("ase-93", {"parents_informed": False, "contrary_interest_reason": "danger"}, True),
    ("ase-93", {"parents_informed": False}, True),
]


def test_a_minors_transmission_opens_the_deadline_at_child_protection(ctx: Context) -> None:
    outcome = reported(ctx, minor=True)
    (deadline,) = [d for d in outcome.opened if d.message_type == PARENTS_INFORMED]
    assert deadline.recipient_agency == "ase-93"
    assert deadline.recipient_role is AgencyRole.CHILD_PROTECTION
    assert deadline.request_id == step_id(outcome.state.case_id)
    assert NOW < deadline.due_at <= NOW + timedelta(days=5)  # 2 working days (a weekend)
    assert pending(outcome) == ["ase-93"]


def test_an_adults_case_opens_no_parents_deadline(ctx: Context) -> None:
    assert pending(reported(ctx, minor=False)) == []


@pytest.mark.parametrize(("sender", "fields", "chased"), ANSWERS)
def test_an_accepted_answer_closes_the_deadline_and_a_refused_one_does_not(
    ctx: Context, sender: str, fields: dict[str, object], chased: bool
) -> None:
    before = reported(ctx, minor=True)
    (deadline,) = [d for d in before.opened if d.message_type == PARENTS_INFORMED]
    after = answer(ctx, before, sender, **fields)
    assert (after.refusal is not None) is chased
    assert pending(after) == (["ase-93"] if chased else [])
    assert (deadline.deadline_id in after.closed) is not chased


def test_a_step_nobody_answers_climbs_the_ladder_naming_the_case_only(ctx: Context) -> None:
    before = reported(ctx, minor=True)
    (deadline,) = [d for d in before.state.open_deadlines() if d.message_type == PARENTS_INFORMED]
    assert advance(deadline, deadline.due_at - timedelta(seconds=1)).steps == ()
    later = deadline.due_at + timedelta(days=10)
    moved = advance(deadline, later)
    assert [s.step for s in moved.steps] == [
        EscalationStep.REMINDER,
        EscalationStep.SUPERVISOR,
        EscalationStep.NATIONAL_COORDINATION,
    ]
    assert all(escalation_event(s, later).request_id is None for s in moved.steps)
    outcome = on_advance(before.state, moved, ctx, later)
    told = [d.recipient.id for d in outcome.deliveries]
    assert told[0] == "ase-93"
    assert len(set(told)) == len(told) == 3
    assert all(d.categories == frozenset() for d in outcome.deliveries)  # no personal data
    # Three rungs, then the need is orphaned to operators: every step audited.
    assert [n.action for n in outcome.audit] == [AuditAction.ESCALATED] * 4
    assert outcome.audit[3].decision == "orphaned need raised to operators"
