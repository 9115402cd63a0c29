"""Retention expiry decided by the worker (issue 23): what a lawyer and an attacker would try.

- The period runs from the last contact (an agency's accepted event about the case, on the
  hub's clock), open or closed case alike (CNIL délibération 2023-095: « 2 ans à compter du
  dernier contact »); the hub's own acts and refused records are no contact.
- Only the worker's clock decides: an expiry command for a case not yet due is refused and
  recorded, whoever's clock wrote it.
- A legal hold (an open permit request, a restriction's holds) defers the expiry.
- A second expiry of an expired case writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from erasure_helpers import (
    PERIOD,
    SETTINGS,
    actions,
    approval,
    command,
    erasure_context,
    request,
    routed,
    step,
)
from flow_helpers import NOW, envelope, events_for, fresh, inbound

from hub.contracts.enums import AckStatus, AuditAction, DeadLetterReason, ErasureOutcome
from hub.contracts.erasure_events import (
    ErasureNotice,
    RestrictionLifted,
    RetentionExpiry,
)
from hub.contracts.events import (
    Acknowledgement,
    CaseClosed,
    PermitRequested,
    SupportRequested,
)
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState, Restriction, Seen
from hub.flow.decisions import Context, Outcome
from hub.flow.expiry import (
    EXPIRED,
    EXPIRY_NOTICE_BASIS,
    Due,
    Gone,
    Held,
    NotDue,
    last_contact,
    verdict,
)
from hub.rules.holds import HoldPolicy


@pytest.fixture(scope="module")
def ctx() -> Context:
    return erasure_context()


def closed(ctx: Context, upto: type = SupportRequested) -> CaseState:
    """A routed case (last contact NOW) that its association closed at NOW."""
    state = routed(ctx, upto, "police-93")
    close = fresh(events_for(state.case_id)[CaseClosed], state.case_id)
    return handle(state, inbound(close, "association-93", ctx, 50), ctx, NOW).state


def expiry(case_id: uuid.UUID, seen: datetime = NOW) -> RetentionExpiry:
    return RetentionExpiry(envelope=envelope(case_id), run_id=uuid.uuid4(), last_contact_at=seen)


def expire_at(state: CaseState, ctx: Context, now: datetime) -> Outcome:
    """A ``RetentionExpiry`` read from ``nrm.erasure``, decided on the worker's clock ``now``."""
    return handle(state, command(expiry(state.case_id), ctx), ctx, now)


# ------------------------------------------------------------------ the rule, as a table

POLICY = HoldPolicy.load(SETTINGS.config_dir)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (timedelta(0), NotDue),
        (PERIOD - timedelta(seconds=1), NotDue),
        (PERIOD, Due),
        (PERIOD + timedelta(days=400), Due),
    ],
    ids=["same day", "one second early", "exactly the period", "long after"],
)
def test_the_period_runs_from_the_last_contact(
    ctx: Context, after: timedelta, expected: type
) -> None:
    state = closed(ctx)
    assert state.last_contact_at == NOW
    assert isinstance(verdict(state, NOW + after, PERIOD, POLICY), expected)


def test_an_open_case_without_hold_expires_too(ctx: Context) -> None:
    # CNIL: the "base active" is kept 2 years from the last contact, not from a closure.
    state = CaseState(case_id=uuid.uuid4(), last_contact_at=NOW)
    assert isinstance(verdict(state, NOW + PERIOD, PERIOD, POLICY), Due)


def test_holds_defer_and_an_erased_case_is_gone(ctx: Context) -> None:
    later = NOW + PERIOD + timedelta(days=1)
    permit = routed(ctx, PermitRequested, "police-93")  # open permit request, never decided
    assert verdict(permit, later, PERIOD, POLICY) == Held(("PENDING_PERMIT_DECISION",), NOW)
    restricted = closed(ctx).model_copy(
        update={"restricted": Restriction(request_id=uuid.uuid4(), holds=("X",), since=NOW)}
    )
    assert verdict(restricted, later, PERIOD, POLICY) == Held(("X",), NOW)
    erased = closed(ctx).model_copy(update={"erased_at": NOW})
    assert isinstance(verdict(erased, later, PERIOD, POLICY), Gone)
    assert verdict(CaseState(case_id=uuid.uuid4()), later, PERIOD, POLICY) == NotDue(
        "no contact recorded"
    )
    assert isinstance(verdict(closed(ctx), later, None, POLICY), NotDue)


def test_a_state_written_before_contacts_were_kept_counts_from_its_latest_agency_event() -> None:
    old = NOW - timedelta(days=900)
    seen = Seen.of(uuid.uuid4(), "nrm.outbox.police-93", 0, 1, "ab" * 16, at=old)
    command = Seen.of(uuid.uuid4(), "nrm.erasure", 0, 2, "cd" * 16, at=NOW)
    state = CaseState(case_id=uuid.uuid4()).with_seen(seen, None).with_seen(command, None)
    assert last_contact(state) == old


# ------------------------------------------------------------------ what is a contact


def test_an_agency_event_is_a_contact_the_hubs_own_commands_and_refusals_are_not(
    ctx: Context,
) -> None:
    state = closed(ctx)
    later = NOW + timedelta(days=3)
    # A refused late event (the case is closed: INVALID_TRANSITION) changes nothing.
    late = fresh(events_for(state.case_id)[SupportRequested], state.case_id)
    refused = handle(state, inbound(late, "police-93", ctx, 60), ctx, later)
    assert refused.refusal is not None
    assert refused.state.last_contact_at == NOW
    # An expiry command (the hub's own) is no contact either.
    early = expire_at(state, ctx, later)
    assert early.state.last_contact_at == NOW
    # An agency's accepted answer is.
    routed_state = routed(ctx, PermitRequested, "police-93")
    [permit] = [r for r in routed_state.requests if r.subject == "fr.nrm.PermitRequested"]
    answer = Acknowledgement(
        envelope=envelope(routed_state.case_id),
        request_id=permit.request_id,
        status=AckStatus.ACCEPTED,
    )
    answered = handle(routed_state, inbound(answer, permit.recipient, ctx, 70), ctx, later)
    assert answered.refusal is None
    assert answered.state.last_contact_at == later


# ------------------------------------------------------------------ the worker decides


def test_a_due_case_is_shredded_and_every_recipient_told(ctx: Context) -> None:
    state = closed(ctx)
    recipients = {r.recipient for r in state.received}
    assert recipients
    outcome = expire_at(state, ctx, NOW + PERIOD + timedelta(days=1))
    assert outcome.destroy_key
    assert outcome.state.erased_at is not None
    assert outcome.state.received == ()
    assert outcome.state.facts.departement is None
    assert outcome.state.audit_head == state.audit_head  # the worker chains on after it
    assert actions(outcome)[-1] == (AuditAction.ERASED, EXPIRED)
    assert "730 days" in (outcome.audit[-1].reason or "")
    notices = [ErasureNotice.model_validate(d.record) for d in outcome.deliveries]
    assert {d.recipient.id for d in outcome.deliveries} == recipients
    assert {n.outcome for n in notices} == {ErasureOutcome.ERASED}
    assert {n.legal_basis for n in notices} == {EXPIRY_NOTICE_BASIS}


def test_an_expiry_the_workers_clock_does_not_support_is_refused_and_recorded(
    ctx: Context,
) -> None:
    # Whoever wrote the command (a run on a clock set two years ahead, a stolen hub key), the
    # worker's clock says the case was in contact yesterday: nothing is destroyed.
    state = closed(ctx)
    outcome = expire_at(state, ctx, NOW + timedelta(days=1))
    assert not outcome.destroy_key
    assert outcome.state.erased_at is None
    assert outcome.deliveries == ()
    assert actions(outcome) == [(AuditAction.REFUSED, "retention expiry refused")]
    assert "last contact" in (outcome.audit[0].reason or "")


def test_a_held_case_is_not_expired(ctx: Context) -> None:
    state = routed(ctx, PermitRequested, "police-93")
    outcome = expire_at(state, ctx, NOW + PERIOD + timedelta(days=1))
    assert not outcome.destroy_key
    assert actions(outcome) == [(AuditAction.REFUSED, "retention expiry deferred: legal hold")]
    assert outcome.audit[0].reason == "PENDING_PERMIT_DECISION"


def test_a_restricted_case_keeps_its_holds_against_expiry(ctx: Context) -> None:
    state = closed(ctx)
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    state = step(state, approval(asked, holds=("STATUTORY_ARCHIVE",)), ctx).state
    assert state.restricted is not None
    outcome = expire_at(state, ctx, NOW + PERIOD + timedelta(days=1))
    assert not outcome.destroy_key
    assert outcome.audit[0].reason == "STATUTORY_ARCHIVE"
    # An agency still writing about a restricted case is in contact with it.
    later = NOW + timedelta(days=5)
    support = fresh(events_for(state.case_id)[SupportRequested], state.case_id)
    stored = handle(state, inbound(support, "police-93", ctx, 80), ctx, later)
    assert stored.deliveries == ()
    assert stored.state.last_contact_at == later


def test_expiring_twice_writes_nothing_the_second_time(ctx: Context) -> None:
    state = closed(ctx)
    first = expire_at(state, ctx, NOW + PERIOD)
    assert first.destroy_key
    second = expire_at(first.state, ctx, NOW + PERIOD + timedelta(days=1))
    assert second.duplicate
    assert not second.destroy_key
    assert second.audit == ()
    assert second.deliveries == ()


def test_an_agency_cannot_expire_or_lift_through_its_outbox(ctx: Context) -> None:
    state = closed(ctx)
    lift = RestrictionLifted(
        envelope=envelope(state.case_id),
        request_id=uuid.uuid4(),
        lifted_by="dpo.demo",
        reason="x",
        person_informed_at=NOW,
    )
    for offset, forged in enumerate((expiry(state.case_id), lift)):
        outcome = handle(state, inbound(forged, "police-93", ctx, 100 + offset), ctx, NOW + PERIOD)
        assert outcome.refusal is not None
        assert outcome.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION
        assert not outcome.destroy_key
        assert outcome.state.erased_at is None
