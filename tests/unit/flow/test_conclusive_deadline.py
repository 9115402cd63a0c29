"""The conclusive identification decision is owed, and chased, after reasonable grounds
(issue 20; docs/LAW.md ID-2, HP-24).

Warsaw art. 10(2): with reasonable grounds the person is not removed « jusqu'à la fin du
processus d'identification ». No text sets a time for the conclusive decision, so the hub
sets one (hub policy, deadlines.yaml ``conclusive_decision``: 30 days) and chases it like any
other request: reminder to the deciding authority, then its supervisor, then national
coordination. The conclusive decision (or a transfer) closes it; nothing else does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from flow_helpers import NOW, consent_for, context, envelope, events_for, inbound

from hub.contracts.enums import (
    AgencyRole,
    AuditAction,
    EscalationStep,
    ExploitationType,
    IdentificationOutcome,
    NotIdentifiedReason,
)
from hub.contracts.events import IdentificationDecision, PresumedVictimReport
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.deadline_flow import on_advance
from hub.flow.decisions import Context, Outcome
from hub.rules.deadlines.ladder import advance
from hub.rules.deadlines.policy import CONCLUSIVE_DECISION

RG = IdentificationOutcome.REASONABLE_GROUNDS
IDENTIFIED = IdentificationOutcome.IDENTIFIED
NOT_IDENTIFIED = IdentificationOutcome.NOT_IDENTIFIED
TRANSFERRED = IdentificationOutcome.TRANSFERRED
INSPECTORATE = "inspection-travail-93"
POLICE = "police-93"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


class Case:
    """A labour-exploitation report of an adult by an association, with her agreement: it goes
    to the labour inspectorate and the police, each owing an identification decision."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.offset = ctx, 0
        self.case_id = uuid.uuid4()
        self.state = CaseState(case_id=self.case_id)
        consent = consent_for(
            AgencyRole.LABOUR_INSPECTORATE, AgencyRole.POLICE_GENDARMERIE, case_id=self.case_id
        )
        assert self.send("association-93", consent).refusal is None
        report: PresumedVictimReport = events_for(self.case_id)[PresumedVictimReport]
        self.report = report.model_copy(
            update={
                "envelope": envelope(self.case_id),
                "exploitation_types": (ExploitationType.LABOUR,),
            }
        )
        assert self.send("association-93", self.report).refusal is None

    def send(self, sender: str, event: Any, days: float = 0) -> Outcome:
        self.offset += 1
        at = NOW + timedelta(days=days)
        outcome = handle(
            self.state, inbound(event, sender, self.ctx, self.offset, at), self.ctx, at
        )
        self.state = outcome.state
        return outcome

    def decide(self, sender: str, outcome: IdentificationOutcome, days: float = 0) -> Outcome:
        extra: dict[str, Any] = {}
        if outcome is NOT_IDENTIFIED:
            extra["not_identified_reason"] = NotIdentifiedReason.INSUFFICIENT_INDICATORS
        if outcome is TRANSFERRED:
            extra["transferred_to_role"] = AgencyRole.POLICE_GENDARMERIE
        decision = IdentificationDecision(
            envelope=envelope(self.case_id),
            report_event_id=self.report.envelope.event_id,
            outcome=outcome,
            **extra,
        )
        return self.send(sender, decision, days)

    def conclusive(self) -> list[tuple[str, int]]:
        """(authority, days due after NOW) of each open conclusive-decision deadline."""
        return sorted(
            (d.recipient_agency, (d.due_at - NOW).days)
            for d in self.state.open_deadlines()
            if d.message_type == CONCLUSIVE_DECISION
        )


CASES = [
    # (decisions (authority, outcome, day, refused?), open conclusive deadlines afterwards)
    ([(INSPECTORATE, RG, 0, False)], [(INSPECTORATE, 30)]),
    # Reasonable grounds once per case (lifecycle.yaml): a second one opens nothing more.
    ([(INSPECTORATE, RG, 0, False), (INSPECTORATE, RG, 2, True)], [(INSPECTORATE, 30)]),
    ([(INSPECTORATE, RG, 0, False), (POLICE, RG, 3, True)], [(INSPECTORATE, 30)]),
    # After reasonable grounds only a conclusive decision: a transfer is refused, still owed.
    ([(INSPECTORATE, RG, 0, False), (INSPECTORATE, TRANSFERRED, 1, True)], [(INSPECTORATE, 30)]),
    ([(INSPECTORATE, RG, 0, False), (INSPECTORATE, IDENTIFIED, 10, False)], []),
    ([(INSPECTORATE, RG, 0, False), (INSPECTORATE, NOT_IDENTIFIED, 10, False)], []),
    ([(INSPECTORATE, RG, 0, False), (POLICE, IDENTIFIED, 10, False)], []),  # settles both
    ([(POLICE, RG, 0, False), (POLICE, NOT_IDENTIFIED, 29, False)], []),
    ([(INSPECTORATE, IDENTIFIED, 0, False)], []),  # conclusive at once: nothing owed
    ([(INSPECTORATE, NOT_IDENTIFIED, 0, False)], []),
]


@pytest.mark.parametrize(("decisions", "owed"), CASES)
def test_the_conclusive_decision_is_owed_after_reasonable_grounds_until_it_comes(
    ctx: Context,
    decisions: list[tuple[str, IdentificationOutcome, int, bool]],
    owed: list[tuple[str, int]],
) -> None:
    case = Case(ctx)
    for sender, outcome, day, refused in decisions:
        assert (case.decide(sender, outcome, day).refusal is not None) is refused
    assert case.conclusive() == owed


def test_reasonable_grounds_opens_the_deadline_in_the_outcome_and_the_audit(
    ctx: Context,
) -> None:
    case = Case(ctx)
    outcome = case.decide(INSPECTORATE, RG)
    (opened,) = [d for d in outcome.opened if d.message_type == CONCLUSIVE_DECISION]
    assert opened.request_id == case.report.envelope.event_id
    assert opened.recipient_role is AgencyRole.LABOUR_INSPECTORATE
    due = [n for n in outcome.audit if n.decision == "conclusive identification decision due"]
    assert [(n.action, n.recipient) for n in due] == [(AuditAction.CASE_TRANSITION, INSPECTORATE)]
    closed = case.decide(INSPECTORATE, IDENTIFIED, days=5)
    assert opened.deadline_id in closed.closed


def test_an_overdue_conclusive_decision_climbs_the_ladder(ctx: Context) -> None:
    case = Case(ctx)
    case.decide(INSPECTORATE, RG)
    (deadline,) = [d for d in case.state.open_deadlines() if d.message_type == CONCLUSIVE_DECISION]
    assert advance(deadline, deadline.due_at - timedelta(seconds=1)).steps == ()
    later = deadline.due_at + timedelta(days=10)  # past every rung
    moved = advance(deadline, later)
    assert [s.step for s in moved.steps] == [
        EscalationStep.REMINDER,
        EscalationStep.SUPERVISOR,
        EscalationStep.NATIONAL_COORDINATION,
    ]
    outcome = on_advance(case.state, moved, ctx, later)
    told = [d.recipient.id for d in outcome.deliveries]
    assert told[0] == INSPECTORATE
    assert len(set(told)) == len(told) == 3  # the authority, its supervisor, national
    assert all(d.categories == frozenset() for d in outcome.deliveries)  # no personal data
    # Three rungs, then the need is orphaned to operators: every step audited.
    assert [n.action for n in outcome.audit] == [AuditAction.ESCALATED] * 4
    assert all(CONCLUSIVE_DECISION in n.decision for n in outcome.audit[:3])
    assert outcome.audit[3].decision == "orphaned need raised to operators"
