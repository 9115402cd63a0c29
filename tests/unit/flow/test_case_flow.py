"""The routing decision, as a table of specifications: no broker, real policy files."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from flow_helpers import NOW, chosen, consent_for, context, envelope, inbound, withdrawal

from hub.contracts.enums import (
    AckStatus,
    AgencyRole,
    AuditAction,
    DataCategory,
    DeadLetterReason,
    DeclineReason,
    EscalationStep,
    SafeChannel,
)
from hub.contracts.events import (
    Acknowledgement,
    Escalation,
    PermitRequested,
    SafetyFlagsSet,
)
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Deliver, Outcome
from hub.rules.directory import Directory

EXAMPLES = {type(event).__name__: (sender, event) for sender, event in example_events()}


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def fresh_event(name: str, **updates: object) -> tuple[str, object]:
    sender, event = EXAMPLES[name]
    return sender, event.model_copy(update={"envelope": envelope(), **updates})


def run(
    ctx: Context, steps: list[tuple[str, object]], state: CaseState | None = None
) -> list[Outcome]:
    state = state or CaseState(case_id=CASE_ID)
    outcomes = []
    for offset, (sender, event) in enumerate(steps):
        outcome = handle(state, inbound(event, sender, ctx, offset), ctx, NOW)
        state = outcome.state
        outcomes.append(outcome)
    return outcomes


def delivered(outcome: Outcome) -> dict[str, Deliver]:
    return {d.recipient.id: d for d in outcome.deliveries}


def test_police_referral_with_consent_reaches_association_and_accommodation(ctx: Context) -> None:
    consent = (
        "association-93",
        consent_for(AgencyRole.SUPPORT_ASSOCIATION, AgencyRole.ACCOMMODATION_PROVIDER),
    )
    referral = fresh_event("ReferralOpened")
    accommodation = fresh_event("AccommodationRequested")
    _, opened, housed = run(ctx, [consent, referral, accommodation])
    assert set(delivered(opened)) == {"association-93"}
    to_association = delivered(opened)["association-93"]
    assert to_association.record["person"]["first_name"] == "Amina"
    assert to_association.record["envelope"]["sender"] == "police-93"
    # remote placement was asked for safety: the national network comes first
    assert set(delivered(housed)) == {"reseau-national-eloignement"}
    assert housed.opened[0].recipient_agency == "reseau-national-eloignement"


def test_prefecture_never_receives_health_data(ctx: Context) -> None:
    consent = ("association-93", consent_for(*AgencyRole))  # consent to everything, everyone
    permit = fresh_event("PermitRequested")
    _, outcome = run(ctx, [consent, permit], chosen())
    record = delivered(outcome)["prefecture-93"].record
    person = record["person"]
    assert person["last_name"] == "Diallo"
    assert person["immigration_status"] == "IRREGULAR"
    assert person["health_needs"] is None
    assert person["phone"] is None
    assert DataCategory.HEALTH not in delivered(outcome)["prefecture-93"].categories


PREFECTURE_CONSENT = (
    "association-93",
    consent_for(
        AgencyRole.PREFECTURE,
        categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
    ),
)


def test_permit_request_is_held_until_consent_covers_identity_and_immigration_status(
    ctx: Context,
) -> None:
    # No legal exception any more: the request follows the person's choice and consent.
    held, released = run(ctx, [fresh_event("PermitRequested"), PREFECTURE_CONSENT], chosen())
    assert held.deliveries == ()
    (hold,) = held.state.holds
    assert hold.recipient == "prefecture-93"
    assert hold.missing == {DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS}
    delivery = delivered(released)["prefecture-93"]
    assert delivery.basis.startswith("consent:")
    assert delivery.categories == {DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS}


def test_no_consent_holds_then_consent_releases(ctx: Context) -> None:
    support = fresh_event("SupportRequested")
    consent = ("association-93", consent_for(AgencyRole.SUPPORT_ASSOCIATION))
    held, released = run(ctx, [support, consent])
    assert held.deliveries == ()
    assert [h.recipient for h in held.state.holds] == ["association-93"]
    assert any(note.action is AuditAction.HELD for note in held.audit)
    assert set(delivered(released)) == {"association-93"}
    assert released.state.holds == ()
    assert any(note.action is AuditAction.RELEASED for note in released.audit)


def test_withdrawal_stops_sharing_cancels_holds_and_notifies_earlier_recipients(
    ctx: Context,
) -> None:
    consent = ("association-93", consent_for(AgencyRole.SUPPORT_ASSOCIATION))
    support = fresh_event("SupportRequested")
    accommodation = fresh_event("AccommodationRequested")  # no consent for providers: held
    withdraw = ("association-93", withdrawal())
    again = fresh_event("SupportRequested", request_id=uuid.uuid4())
    _, shared, held, withdrawn, after = run(ctx, [consent, support, accommodation, withdraw, again])
    assert set(delivered(shared)) == {"association-93"}
    assert held.state.holds
    notices = delivered(withdrawn)
    assert set(notices) == {"association-93"}
    assert notices["association-93"].subject == "fr.nrm.ConsentWithdrawn"
    assert DataCategory.IDENTITY.value in notices["association-93"].record["categories"]
    assert withdrawn.state.holds == ()
    assert any(note.action is AuditAction.CANCELLED for note in withdrawn.audit)
    assert after.deliveries == ()  # nothing more is shared: the new request is held


def test_a_sender_naming_another_agency_is_spoofed(ctx: Context) -> None:
    _, event = fresh_event("SupportRequested")
    spoofed = event.model_copy(update={"envelope": envelope(sender="police-93")})
    (outcome,) = run(ctx, [("association-93", spoofed)])
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SPOOFED_SENDER
    assert outcome.deliveries == ()


def test_an_association_cannot_open_a_formal_identification(ctx: Context) -> None:
    _, referral = fresh_event("ReferralOpened")
    (outcome,) = run(ctx, [("association-93", referral)])
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY


def test_an_agency_cannot_publish_what_only_the_hub_emits(ctx: Context) -> None:
    escalation = Escalation(
        envelope=envelope(),
        deadline_id=uuid.uuid4(),
        step=EscalationStep.REMINDER,
        late_by_seconds=1,
        target_role=AgencyRole.PREFECTURE,
    )
    (outcome,) = run(ctx, [("police-93", escalation)])
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION


def test_redelivery_is_dropped_and_a_copy_at_another_offset_is_replayed(ctx: Context) -> None:
    sender, event = fresh_event("PermitRequested")
    state = chosen()
    first = handle(state, inbound(event, sender, ctx, offset=7), ctx, NOW)
    redelivered = handle(first.state, inbound(event, sender, ctx, offset=7), ctx, NOW)
    copied = handle(first.state, inbound(event, sender, ctx, offset=9), ctx, NOW)
    assert redelivered.duplicate
    assert redelivered.deliveries == ()
    assert copied.refusal is not None
    assert copied.refusal.reason is DeadLetterReason.REPLAYED


def test_acknowledgements_count_only_from_the_asked_agency(ctx: Context) -> None:
    sender, permit = fresh_event("PermitRequested")
    _, opened = run(ctx, [PREFECTURE_CONSENT, (sender, permit)], chosen())
    assert isinstance(permit, PermitRequested)

    def ack(status: AckStatus) -> Acknowledgement:
        return Acknowledgement(envelope=envelope(), request_id=permit.request_id, status=status)

    wrong = run(ctx, [("prefecture-75", ack(AckStatus.ACCEPTED))], opened.state)[0]
    assert wrong.refusal is not None
    assert wrong.refusal.reason is DeadLetterReason.WRONG_RESPONDER
    unknown = Acknowledgement(
        envelope=envelope(), request_id=uuid.uuid4(), status=AckStatus.ACCEPTED
    )
    lost = run(ctx, [("prefecture-93", unknown)], opened.state)[0]
    assert lost.refusal is not None
    assert lost.refusal.reason is DeadLetterReason.UNKNOWN_REQUEST
    right = run(ctx, [("prefecture-93", ack(AckStatus.ACCEPTED))], opened.state)[0]
    assert set(delivered(right)) == {"police-93"}


def test_a_provider_that_stops_accepting_is_skipped(ctx: Context) -> None:
    sender, request = fresh_event("AccommodationRequested")
    local = request.model_copy(
        update={
            "needs": request.needs.model_copy(  # type: ignore[attr-defined]
                update={"remote_placement": False}
            )
        }
    )
    consent = ("association-93", consent_for(AgencyRole.ACCOMMODATION_PROVIDER))
    (_, before) = run(ctx, [consent, (sender, local)])
    assert set(delivered(before)) == {"hebergement-93"}
    closed = ctx.directory.get("hebergement-93")
    assert closed is not None
    changed = dataclasses.replace(
        ctx, directory=ctx.directory.with_agency(closed.model_copy(update={"accepting": False}))
    )
    (_, after) = run(changed, [consent, (sender, local)])
    assert set(delivered(after)) == {"hebergement-95"}


def test_do_not_contact_removes_contact_data_and_safe_channel_restricts_it(ctx: Context) -> None:
    consent = ("association-93", consent_for(*AgencyRole))
    flags = (
        "association-93",
        SafetyFlagsSet(
            envelope=envelope(),
            do_not_contact=False,
            safe_channel=SafeChannel.VIA_SUPPORT_ASSOCIATION,
        ),
    )
    support = fresh_event("SupportRequested")
    accommodation = fresh_event("AccommodationRequested")
    _, _, to_association, to_provider = run(ctx, [consent, flags, support, accommodation])
    association = next(iter(to_association.deliveries))
    provider = next(iter(to_provider.deliveries))
    assert association.record["person"]["phone"] is not None
    assert provider.record["person"]["phone"] is None
    assert ("nrm-safe-channel", b"VIA_SUPPORT_ASSOCIATION") in provider.headers

    stop = (
        "association-93",
        SafetyFlagsSet(envelope=envelope(), do_not_contact=True, safe_channel=SafeChannel.UNKNOWN),
    )
    _, _, silenced = run(ctx, [consent, stop, fresh_event("SupportRequested")])
    assert next(iter(silenced.deliveries)).record["person"]["phone"] is None


def test_a_minor_referral_reaches_child_protection_without_consent(ctx: Context) -> None:
    sender, referral = fresh_event("ReferralOpened", minor_suspected=True)
    (outcome,) = run(ctx, [(sender, referral)])
    reached = delivered(outcome)
    assert {"ase-93", "parquet-mineurs-93"} <= set(reached)
    assert reached["ase-93"].basis == "exception:child-protection-minor"
    assert reached["ase-93"].record["person"]["last_name"] == "Diallo"
    assert "association-93" not in reached  # no consent: held
    assert [h.recipient for h in outcome.state.holds] == ["association-93"]


def test_a_request_no_agency_can_take_is_an_orphaned_need(ctx: Context) -> None:
    sender, permit = fresh_event("PermitRequested")
    elsewhere = Directory([a for a in ctx.directory if a.id != "prefecture-93"], {"93": "IDF"})
    (outcome,) = run(dataclasses.replace(ctx, directory=elsewhere), [(sender, permit)], chosen())
    assert outcome.refusal is None
    assert outcome.deliveries == ()
    (orphan,) = outcome.published
    assert orphan.topic == "nrm.orphaned-needs"
    assert orphan.record["reason"] == "NO_ELIGIBLE_AGENCY"
    assert orphan.record["need"] == "PERMIT"


def test_a_message_nobody_can_receive_is_refused(ctx: Context) -> None:
    sender, referral = fresh_event("ReferralOpened")
    no_associations = Directory(
        [a for a in ctx.directory if a.role is not AgencyRole.SUPPORT_ASSOCIATION], {"93": "IDF"}
    )
    (outcome,) = run(dataclasses.replace(ctx, directory=no_associations), [(sender, referral)])
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.NO_ELIGIBLE_RECIPIENT


def test_every_handled_event_is_audited_with_its_decisions(ctx: Context) -> None:
    _, outcome = run(ctx, [PREFECTURE_CONSENT, fresh_event("PermitRequested")], chosen())
    actions = [note.action for note in outcome.audit]
    assert actions == [
        AuditAction.RECEIVED,
        AuditAction.CASE_TRANSITION,
        AuditAction.ROUTED,
        AuditAction.ROUTED,
    ]
    assert outcome.audit[1].decision == "NEW → SUPPORT_PATHWAY"
    assert outcome.audit[3].decision == "deadline opened"
    received = outcome.audit[0]
    assert received.payload is not None
    assert "health" in received.payload


def test_decline_reason_is_kept_in_the_audit_note(ctx: Context) -> None:
    sender, request = fresh_event("AccommodationRequested")
    consent = ("association-93", consent_for(AgencyRole.ACCOMMODATION_PROVIDER))
    _, opened = run(ctx, [consent, (sender, request)])
    recipient = opened.opened[0].recipient_agency
    decline = Acknowledgement(
        envelope=envelope(),
        request_id=opened.opened[0].request_id,
        status=AckStatus.DECLINED,
        decline_reason=DeclineReason.NO_CAPACITY,
    )
    (answered,) = run(ctx, [(recipient, decline)], opened.state)
    note = next(n for n in answered.audit if n.action is AuditAction.ACKNOWLEDGED)
    assert note.reason == "NO_CAPACITY"
