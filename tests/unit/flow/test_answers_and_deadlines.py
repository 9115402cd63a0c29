"""Answers and deadlines through the flow: ack, decline → re-route, orphaned needs, ladder."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from flow_helpers import NOW, consent_for, context, envelope, inbound

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    DeclineReason,
    EscalationStep,
)
from hub.contracts.events import AccommodationRequested, Acknowledgement
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.answers import answer_problem
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.deadline_flow import on_advance
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import Context, Outcome

REQUEST = next(e for _s, e in example_events() if isinstance(e, AccommodationRequested))


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def step(
    ctx: Context, state: CaseState, sender: str, event: object, offset: int, minutes: float = 0
) -> Outcome:
    return handle(
        state,
        inbound(event, sender, ctx, offset),
        ctx,  # type: ignore[arg-type]
        NOW + timedelta(minutes=minutes),
    )


def requested(ctx: Context) -> Outcome:
    """Consent for providers, then a local accommodation request (no remote placement)."""
    state = CaseState(case_id=CASE_ID)
    consented = step(
        ctx, state, "association-93", consent_for(AgencyRole.ACCOMMODATION_PROVIDER), 0
    )
    needs = REQUEST.needs.model_copy(update={"remote_placement": False})
    request = REQUEST.model_copy(
        update={"envelope": envelope(), "needs": needs, "request_id": uuid.uuid4()}
    )
    return step(ctx, consented.state, "police-93", request, 1)


def answer(
    ctx: Context,
    state: CaseState,
    sender: str,
    status: AckStatus,
    offset: int,
    reason: DeclineReason | None = None,
) -> Outcome:
    request_id = state.requests[0].request_id
    ack = Acknowledgement(
        envelope=envelope(), request_id=request_id, status=status, decline_reason=reason
    )
    return step(ctx, state, sender, ack, offset, minutes=30)


def test_a_request_opens_a_deadline_at_its_recipient(ctx: Context) -> None:
    opened = requested(ctx)
    (deadline,) = opened.state.open_deadlines()
    assert deadline.recipient_agency == "hebergement-93"
    assert deadline.due_at > NOW
    assert opened.opened == (deadline,)


def test_an_acceptance_closes_the_deadline_and_tells_the_requester(ctx: Context) -> None:
    opened = requested(ctx)
    accepted = answer(ctx, opened.state, "hebergement-93", AckStatus.ACCEPTED, 2)
    assert accepted.state.open_deadlines() == []
    assert accepted.closed == (opened.opened[0].deadline_id,)
    assert [d.recipient.id for d in accepted.deliveries] == ["police-93"]


def test_an_accepted_request_stays_open_until_completed(ctx: Context) -> None:
    # A receipt first (ACCEPTED: the acknowledgement deadline is met), the outcome later.
    opened = requested(ctx)
    accepted = answer(ctx, opened.state, "hebergement-93", AckStatus.ACCEPTED, 2)
    (request,) = accepted.state.requests
    assert request.accepted_at == NOW + timedelta(minutes=30)
    completed = answer(ctx, accepted.state, "hebergement-93", AckStatus.COMPLETED, 3)
    assert completed.refusal is None
    assert completed.state.requests == ()
    assert completed.closed == ()  # no deadline left to close
    assert [d.recipient.id for d in completed.deliveries] == ["police-93"]
    assert AuditAction.ACKNOWLEDGED in [n.action for n in completed.audit]


def test_after_completion_a_further_answer_is_an_unknown_request(ctx: Context) -> None:
    opened = requested(ctx)
    done = answer(ctx, opened.state, "hebergement-93", AckStatus.COMPLETED, 2)
    assert done.state.requests == ()
    late = step(
        ctx,
        done.state,
        "hebergement-93",
        Acknowledgement(
            envelope=envelope(),
            request_id=opened.state.requests[0].request_id,
            status=AckStatus.COMPLETED,
        ),
        3,
        minutes=40,
    )
    assert late.refusal is not None
    assert late.refusal.reason.value == "UNKNOWN_REQUEST"


def test_an_accepted_request_still_refuses_another_agencys_answer(ctx: Context) -> None:
    opened = requested(ctx)
    accepted = answer(ctx, opened.state, "hebergement-93", AckStatus.ACCEPTED, 2)
    wrong = answer(ctx, accepted.state, "hebergement-95", AckStatus.COMPLETED, 3)
    assert wrong.refusal is not None
    assert wrong.refusal.reason.value == "WRONG_RESPONDER"
    assert wrong.state.requests == accepted.state.requests


def test_a_decline_reroutes_to_the_next_agency_with_a_fresh_deadline(ctx: Context) -> None:
    opened = requested(ctx)
    declined = answer(
        ctx, opened.state, "hebergement-93", AckStatus.DECLINED, 2, DeclineReason.NO_CAPACITY
    )
    recipients = {d.recipient.id for d in declined.deliveries}
    assert recipients == {"police-93", "hebergement-95"}
    (fresh,) = declined.state.open_deadlines()
    assert fresh.recipient_agency == "hebergement-95"
    assert fresh.declined_by == ("hebergement-93",)
    assert fresh.attempt == 1
    assert any(n.decision == "re-routed after a decline" for n in declined.audit)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (AckStatus.DECLINED, None),
        (AckStatus.ACCEPTED, DeclineReason.NO_CAPACITY),
        (AckStatus.COMPLETED, DeclineReason.NO_CAPACITY),
    ],
)
def test_a_decline_without_a_reason_or_a_reason_without_a_decline_is_refused(
    ctx: Context, status: AckStatus, reason: DeclineReason | None
) -> None:
    opened = requested(ctx)
    refused = answer(ctx, opened.state, "hebergement-93", status, 2, reason)
    assert refused.refusal is not None
    assert refused.refusal.reason.value == "SCHEMA_VIOLATION"
    assert refused.state.requests == opened.state.requests
    assert refused.deliveries == ()
    assert answer_problem(status, reason, received=True) == refused.refusal.detail


def test_a_decline_for_a_reason_newer_than_the_hub_is_rerouted_not_refused(ctx: Context) -> None:
    # UNKNOWN is what the schema's enum default reads for a reason this hub does not know yet.
    opened = requested(ctx)
    declined = answer(
        ctx, opened.state, "hebergement-93", AckStatus.DECLINED, 2, DeclineReason.UNKNOWN
    )
    assert declined.refusal is None
    (fresh,) = declined.state.open_deadlines()
    assert fresh.recipient_agency == "hebergement-95"
    assert answer_problem(AckStatus.DECLINED, DeclineReason.UNKNOWN) is not None  # sending


def test_the_last_decline_raises_an_orphaned_need(ctx: Context) -> None:
    outcome = requested(ctx)
    offset = 2
    for provider in ("hebergement-93", "hebergement-95", "reseau-national-eloignement"):
        outcome = answer(
            ctx, outcome.state, provider, AckStatus.DECLINED, offset, DeclineReason.NO_CAPACITY
        )
        offset += 1
    (orphan,) = outcome.published
    assert orphan.record["reason"] == "ALL_DECLINED"
    assert orphan.record["declined_by"] == [
        "hebergement-93",
        "hebergement-95",
        "reseau-national-eloignement",
    ]
    assert outcome.state.open_deadlines() == []


def test_an_answer_from_another_agency_does_not_count(ctx: Context) -> None:
    opened = requested(ctx)
    wrong = answer(ctx, opened.state, "hebergement-95", AckStatus.ACCEPTED, 2)
    assert wrong.refusal is not None
    assert wrong.refusal.reason.value == "WRONG_RESPONDER"


def test_overdue_request_climbs_the_ladder_once_per_step(ctx: Context) -> None:
    opened = requested(ctx)
    (deadline,) = opened.state.open_deadlines()
    index = PartitionedDeadlines()
    index.assign(0, [deadline])
    state = opened.state
    fired: list[EscalationStep] = []
    recipients: list[set[str]] = []
    now = NOW
    for _ in range(40):  # bounded walk through time, an hour at a time then a day
        now += timedelta(hours=6)
        for _partition, advance in index.tick(now):
            outcome = on_advance(state, advance, ctx, now)
            state = outcome.state
            fired += [s.step for s in advance.steps]
            recipients.append({d.recipient.id for d in outcome.deliveries})
            assert all(n.action is AuditAction.ESCALATED for n in outcome.audit)
    assert fired == [
        EscalationStep.REMINDER,
        EscalationStep.SUPERVISOR,
        EscalationStep.NATIONAL_COORDINATION,
    ]
    assert recipients[0] == {"hebergement-93"}
    assert recipients[1] == {"coordination-idf"}
    assert recipients[2] == {"miprof"}


def test_the_last_step_raises_an_orphaned_need(ctx: Context) -> None:
    opened = requested(ctx)
    index = PartitionedDeadlines()
    index.assign(0, opened.state.open_deadlines())
    far = NOW + timedelta(days=60)
    ((_p, advance),) = index.tick(far)
    outcome = on_advance(opened.state, advance, ctx, far)
    topics = [p.topic for p in outcome.published]
    assert topics.count("nrm.escalations") == 3
    assert topics.count("nrm.orphaned-needs") == 1


def test_an_answer_before_the_deadline_cancels_the_ladder(ctx: Context) -> None:
    opened = requested(ctx)
    index = PartitionedDeadlines()
    index.assign(0, opened.state.open_deadlines())
    accepted = answer(ctx, opened.state, "hebergement-93", AckStatus.ACCEPTED, 2)
    for deadline_id in accepted.closed:
        index.remove(0, deadline_id)
    assert index.tick(NOW + timedelta(days=60)) == []


def test_needs_information_extends_the_deadline(ctx: Context) -> None:
    opened = requested(ctx)
    (before,) = opened.state.open_deadlines()
    later = dataclasses.replace(before)
    extended = answer(ctx, opened.state, "hebergement-93", AckStatus.NEEDS_INFORMATION, 2)
    (after,) = extended.state.open_deadlines()
    assert after.due_at >= later.due_at
    assert after.extensions == 1


def test_a_consent_hold_past_its_time_limit_is_escalated_once_and_stays_held(
    ctx: Context,
) -> None:
    from hub.flow.deadline_flow import expired_holds

    state = CaseState(case_id=CASE_ID)
    support = next(e for _s, e in example_events() if type(e).__name__ == "SupportRequested")
    held = handle(
        state,
        inbound(support.model_copy(update={"envelope": envelope()}), "police-93", ctx, 0),
        ctx,
        NOW,
    )
    assert held.state.holds
    assert expired_holds(held.state, ctx, NOW + timedelta(hours=71)) is None
    late = expired_holds(held.state, ctx, NOW + timedelta(hours=73))
    assert late is not None
    assert [d.recipient.id for d in late.deliveries] == ["miprof"]
    assert [p.topic for p in late.published] == ["nrm.escalations"]
    assert late.state.holds[0].escalated
    assert expired_holds(late.state, ctx, NOW + timedelta(hours=100)) is None
