"""The parents-informed step of a minor's case (CASF L226-2-1), through the flow.

"Sauf intérêt contraire de l'enfant, le père, la mère, toute autre personne exerçant
l'autorité parentale ou le tuteur sont préalablement informés de cette transmission": when
child protection receives a minor's data the step opens, and it closes only when someone
says the parents were informed — or were not, with a reason an auditor can review.
"""

from __future__ import annotations

import uuid

import pytest
from flow_helpers import NOW, context, envelope, events_for, inbound

from hub.cli.case_view import case_summary, render_case
from hub.contracts.enums import AuditAction, DeadLetterReason
from hub.contracts.events import ParentsInformation, PresumedVictimReport
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome

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


def answered(ctx: Context, before: Outcome, informed: bool, reason: str | None) -> Outcome:
    event = ParentsInformation(
        envelope=envelope(before.state.case_id),
        parents_informed=informed,
        contrary_interest_reason=reason,
    )
    return handle(before.state, inbound(event, "ase-93", ctx, 1), ctx, NOW)


def test_a_minors_transmission_to_child_protection_opens_the_step(ctx: Context) -> None:
    outcome = reported(ctx, minor=True)
    assert "ase-93" in {d.recipient.id for d in outcome.deliveries}
    assert outcome.state.parents is not None
    assert outcome.state.parents.pending
    opened = [n for n in outcome.audit if n.decision.startswith("parents-informed step opened")]
    assert [n.legal_basis for n in opened] == ["CASF L226-2-1"]


def test_an_adults_case_has_no_parents_step(ctx: Context) -> None:
    assert reported(ctx, minor=False).state.parents is None


def test_parents_informed_closes_the_step(ctx: Context) -> None:
    closed = answered(ctx, reported(ctx, minor=True), True, None)
    assert closed.refusal is None
    assert closed.state.parents is not None
    assert closed.state.parents.informed is True
    assert closed.state.parents.closed_by == "ase-93"


@pytest.mark.parametrize("reason", [None, "", "danger", "   contraire    "])
def test_parents_not_informed_without_a_real_reason_is_refused(
    ctx: Context, reason: str | None
) -> None:
    before = reported(ctx, minor=True)
    refused = answered(ctx, before, False, reason)
    assert refused.refusal is not None
    assert refused.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION
    assert refused.state.parents is not None
    assert refused.state.parents.pending


def test_parents_not_informed_for_the_childs_interest_is_audited_without_the_reason_in_clear(
    ctx: Context,
) -> None:
    closed = answered(ctx, reported(ctx, minor=True), False, REASON)
    assert closed.refusal is None
    assert closed.state.parents is not None
    assert closed.state.parents.informed is False
    (note,) = [n for n in closed.audit if n.action is AuditAction.CASE_TRANSITION]
    assert note.reason == "CONTRARY_TO_CHILD_INTEREST"
    assert note.legal_basis == "CASF L226-2-1"
    clear = [str(v) for n in closed.audit for v in (n.decision, n.reason, n.legal_basis)]
    assert not any(REASON in text for text in clear)
    received = next(n for n in closed.audit if n.action is AuditAction.RECEIVED)
    assert received.payload == {"minor": {"contrary_interest_reason": REASON}}


AD_HOC = "fr.nrm.AdHocAdministratorRequested"


def test_parents_not_informed_asks_the_juvenile_prosecutor_for_an_ad_hoc_administrator(
    ctx: Context,
) -> None:
    """CPP 706-50: the representatives do not fully protect the child's interests."""
    closed = answered(ctx, reported(ctx, minor=True), False, REASON)
    (asked,) = [d for d in closed.deliveries if d.subject == AD_HOC]
    assert asked.recipient.id == "parquet-mineurs-93"
    assert asked.record["unaccompanied"] is False
    assert asked.categories == frozenset()  # no personal data: the prosecutor has the report
    assert [r.recipient for r in closed.state.requests if r.subject == AD_HOC] == [
        "parquet-mineurs-93"
    ]


def test_an_unaccompanied_minor_needs_no_reason_and_gets_a_guardian_request(ctx: Context) -> None:
    """Dir. 2011/36 art. 14(2): nobody to inform, a guardian to appoint."""
    before = reported(ctx, minor=True)
    event = ParentsInformation(
        envelope=envelope(before.state.case_id),
        parents_informed=False,
        no_legal_representative=True,
    )
    closed = handle(before.state, inbound(event, "ase-93", ctx, 1), ctx, NOW)
    assert closed.refusal is None
    (asked,) = [d for d in closed.deliveries if d.subject == AD_HOC]
    assert asked.record["unaccompanied"] is True


def test_parents_informed_asks_for_nobody(ctx: Context) -> None:
    closed = answered(ctx, reported(ctx, minor=True), True, None)
    assert [d for d in closed.deliveries if d.subject == AD_HOC] == []


def test_case_show_tracks_the_step_for_operators(ctx: Context) -> None:
    opened = reported(ctx, minor=True)
    assert case_summary(opened.state, NOW)["parents_informed"]["status"] == "PENDING"
    shown = render_case(opened.state, NOW)
    assert "information des parents à confirmer" in " ".join(str(r) for r in shown.renderables)
    closed = answered(ctx, opened, False, REASON)
    summary = case_summary(closed.state, NOW)["parents_informed"]
    assert summary == {
        "status": "NOT_INFORMED",
        "since": opened.state.parents.opened_at.isoformat(),  # type: ignore[union-attr]
        "closed_by": "ase-93",
    }
    assert REASON not in str(case_summary(closed.state, NOW))
