"""Deadlines closed by their cause, through the flow: the récépissé (the prefecture's
ACCEPTED) opens the reflection-period deadline and the permit's final answer closes it; a
withdrawal closes the requests it stops and notifies only the agencies it concerns."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flow_helpers import NOW, chosen, consent_for, context, envelope, inbound, withdrawal

from hub.contracts.enums import AckStatus, AgencyRole, AuditAction, DataCategory
from hub.contracts.events import Acknowledgement, PermitRequested, SupportRequested
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState, Received
from hub.flow.decisions import Context, Outcome
from hub.flow.withdrawal import notice_scope
from hub.rules.consent import Withdrawal
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END

EXAMPLES = {type(event): (sender, event) for sender, event in example_events()}
PERMIT = "fr.nrm.PermitRequested"
SUPPORT = "fr.nrm.SupportRequested"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def step(ctx: Context, state: CaseState, sender: str, event: object, offset: int) -> Outcome:
    return handle(state, inbound(event, sender, ctx, offset), ctx, NOW + timedelta(hours=offset))


def permit_requested(ctx: Context) -> tuple[CaseState, uuid.UUID]:
    """A reflection-period receipt request at prefecture-93, on the person's consent."""
    sender, event = EXAMPLES[PermitRequested]
    request_id = uuid.uuid4()
    permit = event.model_copy(update={"envelope": envelope(), "request_id": request_id})
    consent = consent_for(
        AgencyRole.PREFECTURE,
        categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
    )
    state = step(ctx, chosen(), "association-93", consent, 0).state
    state = step(ctx, state, sender, permit, 0).state
    return state, request_id


def ack(request_id: uuid.UUID, status: AckStatus) -> Acknowledgement:
    return Acknowledgement(envelope=envelope(), request_id=request_id, status=status)


def kinds(state: CaseState) -> set[str]:
    return {d.message_type for d in state.open_deadlines()}


@pytest.mark.parametrize(
    ("answers", "left"),
    [
        ((AckStatus.ACCEPTED,), {REFLECTION_PERIOD_END}),  # the receipt: the period starts
        ((AckStatus.ACCEPTED, AckStatus.COMPLETED), set()),
        ((AckStatus.COMPLETED,), set()),  # granted at once: no period was started
    ],
)
def test_the_receipt_starts_the_reflection_period_and_the_final_answer_closes_it(
    ctx: Context, answers: tuple[AckStatus, ...], left: set[str]
) -> None:
    state, request_id = permit_requested(ctx)
    assert kinds(state) == {PERMIT}
    assert state.reflection_ends is None
    outcome: Outcome | None = None
    for offset, status in enumerate(answers, start=1):
        outcome = step(ctx, state, "prefecture-93", ack(request_id, status), offset)
        assert outcome.refusal is None
        state = outcome.state
    assert outcome is not None
    assert kinds(state) == left
    if answers[0] is AckStatus.ACCEPTED:
        # R425-2: « Ce délai court à compter de la remise du récépissé »
        assert state.reflection_ends == NOW + timedelta(hours=1, days=30)
    if not left and AckStatus.ACCEPTED in answers:
        reflection_closed = [
            n for n in outcome.audit if n.decision.startswith(REFLECTION_PERIOD_END)
        ]
        assert [(n.action, n.reason) for n in reflection_closed] == [
            (AuditAction.CANCELLED, "PERMIT_DECIDED")
        ]
        assert len(outcome.closed) >= 1


def test_a_withdrawal_for_the_association_closes_its_request_and_spares_the_prefecture(
    ctx: Context,
) -> None:
    state, permit_id = permit_requested(ctx)
    state = step(ctx, state, "prefecture-93", ack(permit_id, AckStatus.ACCEPTED), 1).state
    consent = consent_for(AgencyRole.SUPPORT_ASSOCIATION)
    state = step(ctx, state, "association-93", consent, 1).state
    sender, support = EXAMPLES[SupportRequested]
    support_id = uuid.uuid4()
    support = support.model_copy(update={"envelope": envelope(), "request_id": support_id})
    state = step(ctx, state, sender, support, 2).state
    assert {(r.subject, r.recipient) for r in state.requests} == {
        (PERMIT, "prefecture-93"),
        (SUPPORT, "association-93"),
    }
    # The person withdraws the association's consent only; the permit route is theirs.
    scoped = withdrawal().model_copy(update={"recipient_roles": (AgencyRole.SUPPORT_ASSOCIATION,)})
    withdrawn = step(ctx, state, "association-93", scoped, 3)
    assert withdrawn.refusal is None
    # The association is told to stop, the prefecture is not.
    assert {d.recipient.id for d in withdrawn.deliveries} == {"association-93"}
    # The association's request and deadline are closed, with the cause in the audit.
    after = withdrawn.state
    assert [(r.subject, r.recipient) for r in after.requests] == [(PERMIT, "prefecture-93")]
    assert kinds(after) == {REFLECTION_PERIOD_END}
    closed = [n for n in withdrawn.audit if n.reason == "CONSENT_WITHDRAWN"]
    assert {(n.action, n.recipient) for n in closed} == {(AuditAction.CANCELLED, "association-93")}
    assert any(n.decision == f"{SUPPORT} deadline closed: consent withdrawn" for n in closed)
    assert len(withdrawn.closed) == 1
    # An answer from the association afterwards no longer counts as an open request.
    late = step(ctx, after, "association-93", ack(support_id, AckStatus.ACCEPTED), 4)
    assert late.refusal is not None
    assert permit_id in {r.request_id for r in after.requests}


def test_a_withdrawal_limited_to_other_roles_closes_nothing(ctx: Context) -> None:
    state = step(
        ctx, CaseState(case_id=CASE_ID), "association-93", consent_for(*AgencyRole), 0
    ).state
    sender, support = EXAMPLES[SupportRequested]
    state = step(ctx, state, sender, support.model_copy(update={"envelope": envelope()}), 1).state
    scoped = withdrawal().model_copy(
        update={"envelope": envelope(), "recipient_roles": (AgencyRole.HEALTH,)}
    )
    outcome = step(ctx, state, "association-93", scoped, 2)
    assert outcome.closed == ()
    assert [r.recipient for r in outcome.state.requests] == ["association-93"]


IDENTITY, HEALTH = DataCategory.IDENTITY, DataCategory.HEALTH


def received(
    recipient: str, role: AgencyRole, consented: frozenset[DataCategory] | None
) -> Received:
    return Received(
        recipient=recipient,
        role=role,
        subject=PERMIT,
        event_id=uuid.uuid4(),
        categories=frozenset({IDENTITY, HEALTH}),
        at=NOW,
        consented=consented,
    )


@pytest.mark.parametrize(
    ("consented", "withdrawn", "told"),
    [
        (frozenset(), frozenset({IDENTITY, HEALTH}), None),  # legal exception only
        (frozenset({HEALTH}), frozenset({IDENTITY, HEALTH}), {HEALTH}),
        (frozenset({HEALTH}), frozenset({IDENTITY}), None),
        (None, frozenset({IDENTITY}), {IDENTITY}),  # recorded before: counted as consent
    ],
)
def test_a_withdrawal_notice_covers_only_data_held_on_consent(
    consented: frozenset[DataCategory] | None,
    withdrawn: frozenset[DataCategory],
    told: set[DataCategory] | None,
) -> None:
    entry = received("prefecture-93", AgencyRole.PREFECTURE, consented)
    scope = notice_scope([entry], Withdrawal(categories=withdrawn, roles=frozenset(AgencyRole)))
    assert scope.get("prefecture-93") == (None if told is None else frozenset(told))


def test_merging_deliveries_keeps_what_was_held_on_consent() -> None:
    first = received("x", AgencyRole.PREFECTURE, frozenset())
    later = received("x", AgencyRole.PREFECTURE, frozenset({HEALTH}))
    assert first.merged(later).held_on_consent == {HEALTH}
    assert first.merged(later).categories == {IDENTITY, HEALTH}
