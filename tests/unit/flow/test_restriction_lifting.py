"""Lifting a restriction (GDPR art. 18(3)): "A data subject who has obtained restriction of
processing ... shall be informed by the controller before the restriction of processing is
lifted." What a lawyer and an attacker would try on the flow.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from erasure_helpers import actions, approval, command, erasure_context, request, routed, step
from flow_helpers import NOW, envelope, events_for, fresh, inbound

from hub.contracts.enums import AckStatus, AuditAction, ErasureOutcome
from hub.contracts.erasure_events import (
    ErasureNotice,
    RestrictionLifted,
)
from hub.contracts.events import (
    Acknowledgement,
    PermitRequested,
    SupportRequested,
)
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome

LIFTED_AT = NOW + timedelta(days=10)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return erasure_context()


def restricted(ctx: Context, *, decided: bool) -> tuple[CaseState, uuid.UUID]:
    """A permit case restricted by PENDING_PERMIT_DECISION (at NOW + 1 min); with ``decided``,
    the prefecture has since decided the permit, so the hold has ended."""
    state = routed(ctx, PermitRequested, "police-93")
    [permit] = [r for r in state.requests if r.subject == "fr.nrm.PermitRequested"]
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    state = step(state, approval(asked), ctx).state
    assert state.restricted is not None
    if decided:
        granted = Acknowledgement(
            envelope=envelope(state.case_id),
            request_id=permit.request_id,
            status=AckStatus.COMPLETED,
        )
        state = handle(state, inbound(granted, permit.recipient, ctx, 40), ctx, NOW).state
    return state, asked.request_id


def lift(
    state: CaseState,
    request_id: uuid.UUID,
    ctx: Context,
    *,
    by: str = "dpo.demo",
    informed: datetime = NOW + timedelta(days=2),
) -> Outcome:
    event = RestrictionLifted(
        envelope=envelope(state.case_id),
        request_id=request_id,
        lifted_by=by,
        reason="titre de séjour délivré",
        person_informed_at=informed,
    )
    return handle(state, command(event, ctx), ctx, LIFTED_AT)


def test_a_dpo_lifts_the_restriction_once_the_person_was_told(ctx: Context) -> None:
    state, request_id = restricted(ctx, decided=True)
    outcome = lift(state, request_id, ctx)
    assert outcome.state.restricted is None
    assert actions(outcome)[:2] == [
        (
            AuditAction.RECEIVED,
            f"restriction lifted ({request_id}), person informed "
            f"{NOW + timedelta(days=2):%Y-%m-%d %H:%M} UTC",
        ),
        (AuditAction.CASE_TRANSITION, "processing resumed"),
    ]
    assert outcome.audit[0].actor == "operator:dpo.demo"
    assert outcome.audit[0].legal_basis == "RGPD art. 18(3)"
    notices = [ErasureNotice.model_validate(d.record) for d in outcome.deliveries]
    assert {d.recipient.id for d in outcome.deliveries} == {r.recipient for r in state.received}
    assert {n.outcome for n in notices} == {ErasureOutcome.RESTRICTION_LIFTED}
    # Processing resumes: a later request is shared again.
    support = fresh(events_for(state.case_id)[SupportRequested], state.case_id)
    later = handle(outcome.state, inbound(support, "police-93", ctx, 90), ctx, LIFTED_AT)
    assert later.deliveries


@pytest.mark.parametrize(
    ("informed", "why"),
    [
        (LIFTED_AT + timedelta(hours=1), "before it is lifted"),
        (NOW - timedelta(days=1), "after the restriction began"),
    ],
    ids=["told after the lifting", "told before the restriction existed"],
)
def test_a_lift_without_the_person_told_first_is_refused(
    ctx: Context, informed: datetime, why: str
) -> None:
    state, request_id = restricted(ctx, decided=True)
    outcome = lift(state, request_id, ctx, informed=informed)
    assert outcome.state.restricted is not None
    assert outcome.deliveries == ()
    assert actions(outcome) == [(AuditAction.REFUSED, "restriction lift refused")]
    assert why in (outcome.audit[0].reason or "")


def test_a_hold_that_still_applies_keeps_the_restriction(ctx: Context) -> None:
    state, request_id = restricted(ctx, decided=False)  # the permit is still pending
    outcome = lift(state, request_id, ctx)
    assert outcome.state.restricted is not None
    assert "PENDING_PERMIT_DECISION" in (outcome.audit[0].reason or "")


@pytest.mark.parametrize("who", ["operatrice.demo", "auditrice.demo", "personne"])
def test_only_a_data_protection_officer_lifts(ctx: Context, who: str) -> None:
    state, request_id = restricted(ctx, decided=True)
    outcome = lift(state, request_id, ctx, by=who)
    assert outcome.state.restricted is not None
    assert [a for a, _ in actions(outcome)] == [AuditAction.REFUSED]


def test_a_lift_must_name_the_cases_restriction(ctx: Context) -> None:
    state, _ = restricted(ctx, decided=True)
    outcome = lift(state, uuid.uuid4(), ctx)
    assert outcome.state.restricted is not None
    assert "no restriction" in (outcome.audit[0].reason or "")
