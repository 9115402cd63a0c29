"""Erasure as a workflow (issue 23 item 4), decided in the flow: what a data-protection officer,
a lawyer and an attacker would each try.

- Four eyes: the requester cannot approve, even as DPO; nobody but a DPO approves.
- A case with an open permit request is not erased: restricted (art. 18), hold named, the
  prefecture told (art. 19); after that nothing more is shared.
- A case with no hold is erased: key destroyed, state reduced to id + chain head, every
  recipient told.
- Only the hub's signature opens ``nrm.erasure``; an agency cannot publish erasure commands.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from erasure_helpers import (
    GRID,
    HUB_KEYS,
    SETTINGS,
    actions,
    approval,
    command_record,
    erasure_context,
    four_partitions,
    hub_signer,
    request,
    routed,
    step,
)
from flow_helpers import NOW, codec, envelope, events_for, inbound

from hub.contracts.enums import (
    AckStatus,
    AuditAction,
    DeadLetterReason,
    ErasureOutcome,
)
from hub.contracts.erasure_events import (
    ErasureNotice,
    ErasureRejected,
)
from hub.contracts.events import (
    Acknowledgement,
    PermitRequested,
    SupportRequested,
)
from hub.contracts.topics import ERASURE
from hub.flow.case_flow import handle
from hub.flow.decisions import Context
from hub.flow.ingest import RawRecord, Rejected, ingest
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner, to_ms


@pytest.fixture(scope="module")
def ctx() -> Context:
    return erasure_context()


# ------------------------------------------------------------------ four eyes


def test_the_requester_cannot_approve_even_as_dpo(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    asked = request(state.case_id, by="dpo.demo")
    state = step(state, asked, ctx).state
    outcome = step(state, approval(asked, by="dpo.demo"), ctx)
    assert actions(outcome) == [(AuditAction.REFUSED, "erasure approval refused")]
    assert "quatre yeux" in (outcome.audit[0].reason or "")
    assert not outcome.destroy_key
    assert [p.request_id for p in outcome.state.erasure_requests] == [asked.request_id]


@pytest.mark.parametrize("approver", ["operateur.demo", "auditrice.demo", "personne", ""])
def test_nobody_but_a_data_protection_officer_approves(ctx: Context, approver: str) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    outcome = step(state, approval(asked, by=approver), ctx)
    assert [a for a, _ in actions(outcome)] == [AuditAction.REFUSED]
    assert not outcome.destroy_key
    assert outcome.state.erased_at is None


def test_an_approval_of_no_pending_request_is_refused(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    outcome = step(state, approval(request(state.case_id)), ctx)
    assert [a for a, _ in actions(outcome)] == [AuditAction.REFUSED]
    assert "no pending erasure request" in (outcome.audit[0].reason or "")


def test_the_request_is_recorded_with_its_operator_as_actor(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    outcome = step(state, request(state.case_id), ctx)
    assert outcome.audit[0].actor == "operator:operatrice.demo"
    assert outcome.audit[0].action is AuditAction.RECEIVED


@pytest.mark.parametrize(
    ("rejector", "rejected"),
    [("dpo.demo", True), ("operateur.demo", False), ("coordination.idf", False)],
)
def test_only_a_dpo_rejects_a_request_and_says_why(
    ctx: Context, rejector: str, rejected: bool
) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    rejection = ErasureRejected(
        envelope=envelope(state.case_id),
        request_id=asked.request_id,
        rejected_by=rejector,
        reason="données nécessaires à la procédure en cours",
    )
    outcome = step(state, rejection, ctx)
    assert [a for a, _ in actions(outcome)] == [AuditAction.REFUSED]
    assert not outcome.destroy_key
    assert (outcome.state.erasure_requests == ()) is rejected
    if rejected:
        assert outcome.audit[0].reason == "données nécessaires à la procédure en cours"
        late = step(outcome.state, approval(asked), ctx)  # a rejected request is not approvable
        assert not late.destroy_key


# ------------------------------------------------------------------ holds → restriction


def test_an_open_permit_request_restricts_instead_of_erasing(ctx: Context) -> None:
    state = routed(ctx, PermitRequested, "police-93")
    assert "fr.nrm.PermitRequested" in {r.subject for r in state.requests}
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    outcome = step(state, approval(asked), ctx)
    assert not outcome.destroy_key
    assert outcome.state.erased_at is None
    assert outcome.state.restricted is not None
    assert outcome.state.restricted.holds == ("PENDING_PERMIT_DECISION",)
    refused = [n for n in outcome.audit if n.decision == "erasure refused: legal hold"]
    assert [n.reason for n in refused] == ["PENDING_PERMIT_DECISION"]
    assert outcome.state.deadlines == ()
    assert outcome.closed  # the permit's deadline ends: nothing more is chased
    notices = [ErasureNotice.model_validate(d.record) for d in outcome.deliveries]
    told = {(d.recipient.id, n.outcome) for d, n in zip(outcome.deliveries, notices, strict=True)}
    assert ("prefecture-93", ErasureOutcome.RESTRICTED) in told
    assert {r for r, _ in told} == {r.recipient for r in state.received}
    assert {n.holds for n in notices} == {("PENDING_PERMIT_DECISION",)}


def test_a_restricted_case_shares_nothing_more(ctx: Context) -> None:
    state = routed(ctx, PermitRequested, "police-93")
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    state = step(state, approval(asked), ctx).state
    support = events_for(state.case_id)[SupportRequested]
    support = support.model_copy(update={"envelope": envelope(state.case_id)})
    later = handle(state, inbound(support, "police-93", ctx, 7), ctx, NOW + timedelta(hours=1))
    assert later.deliveries == ()
    assert later.refusal is None  # stored in the chain, never a dead letter in clear
    assert [a for a, _ in actions(later)] == [AuditAction.RECEIVED, AuditAction.REFUSED]
    assert later.audit[1].reason == "processing restricted"
    assert later.audit[0].payload  # storage is what art. 18(2) still allows


def test_once_the_permit_is_decided_a_new_request_erases_the_restricted_case(
    ctx: Context,
) -> None:
    state = routed(ctx, PermitRequested, "police-93")
    [permit] = [r.request_id for r in state.requests if r.subject == "fr.nrm.PermitRequested"]
    first = request(state.case_id)
    state = step(state, first, ctx).state
    state = step(state, approval(first), ctx).state
    assert state.restricted is not None
    granted = Acknowledgement(
        envelope=envelope(state.case_id), request_id=permit, status=AckStatus.COMPLETED
    )
    decided = handle(state, inbound(granted, "prefecture-93", ctx, 11), ctx, NOW)
    assert decided.deliveries == ()
    assert actions(decided)[-1] == (AuditAction.ACKNOWLEDGED, "request decided while restricted")
    second = request(state.case_id)
    state = step(decided.state, second, ctx).state
    outcome = step(state, approval(second), ctx)
    assert outcome.destroy_key
    assert outcome.state.erased_at is not None


def test_a_declared_statutory_archive_restricts(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    outcome = step(state, approval(asked, holds=("STATUTORY_ARCHIVE",)), ctx)
    assert outcome.state.restricted is not None
    assert outcome.state.restricted.holds == ("STATUTORY_ARCHIVE",)
    assert not outcome.destroy_key


# ------------------------------------------------------------------ erasure


def test_a_case_without_hold_is_erased_and_every_recipient_told(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    recipients = {r.recipient for r in state.received}
    head = state.audit_head
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    outcome = step(state, approval(asked), ctx)
    assert outcome.destroy_key
    assert outcome.state.erased_at is not None
    assert outcome.state.audit_head == head  # the worker chains on after the ERASED entry
    assert outcome.state.received == ()
    assert outcome.state.requests == ()
    assert outcome.state.facts.departement is None
    told = {d.recipient.id for d in outcome.deliveries}
    assert told == recipients
    for delivery in outcome.deliveries:
        notice = ErasureNotice.model_validate(delivery.record)
        assert notice.outcome is ErasureOutcome.ERASED
        assert delivery.categories == frozenset()  # no personal data in a notice
    assert actions(outcome)[-1] == (AuditAction.ERASED, "erase")
    sent = [n for n in outcome.audit if n.decision == "erasure notice sent"]
    assert {n.recipient for n in sent} == recipients
    # A notice is not a disclosure: the subject report must not count it as data shared.
    assert all(n.legal_basis is None and n.reason == "RGPD art. 19" for n in sent)


def test_an_erased_case_records_later_events_without_their_data(ctx: Context) -> None:
    state = routed(ctx, PermitRequested, "police-93")
    [request_id] = [r.request_id for r in state.requests if r.subject == "fr.nrm.PermitRequested"]
    # Answered and closed, so no hold: the permit decision is made.
    done = Acknowledgement(
        envelope=envelope(state.case_id),
        request_id=request_id,
        status=AckStatus.COMPLETED,
    )
    state = handle(state, inbound(done, "prefecture-93", ctx, 3), ctx, NOW).state
    asked = request(state.case_id)
    state = step(state, asked, ctx).state
    state = step(state, approval(asked), ctx).state
    assert state.erased_at is not None
    again = Acknowledgement(
        envelope=envelope(state.case_id), request_id=request_id, status=AckStatus.COMPLETED
    )
    later = handle(state, inbound(again, "prefecture-93", ctx, 9), ctx, NOW + timedelta(days=1))
    assert later.deliveries == ()
    assert later.refusal is None
    assert later.audit[0].payload is None
    assert later.audit[1].reason == "case erased"


# ------------------------------------------------------------------ who may write nrm.erasure


def test_only_the_hubs_signature_opens_the_erasure_topic(ctx: Context) -> None:
    asked = request(uuid.uuid4())
    police = RecordSigner(load_private_key(dev_key_path(SETTINGS.config_dir, "police-93")), "x")
    forged = ingest(
        command_record(asked, police),
        codec(),
        ctx.directory,
        None,
        four_partitions,
        hub_keys=HUB_KEYS,
        indicators=GRID,
    )
    assert isinstance(forged, Rejected)
    assert forged.reason is DeadLetterReason.BAD_SIGNATURE
    unsigned = command_record(asked, hub_signer())
    bare = ingest(
        RawRecord(**{**unsigned.__dict__, "headers": ()}),
        codec(),
        ctx.directory,
        None,
        four_partitions,
        hub_keys=HUB_KEYS,
        indicators=GRID,
    )
    assert isinstance(bare, Rejected)
    nobody = ingest(
        command_record(asked, hub_signer()),
        codec(),
        ctx.directory,
        None,
        four_partitions,
        hub_keys=(),
        indicators=GRID,
    )
    assert isinstance(nobody, Rejected)  # no hub key configured: nothing is trusted


def test_a_copied_erasure_command_replayed_days_later_is_stale(ctx: Context) -> None:
    asked = request(uuid.uuid4())
    record = command_record(asked, hub_signer())
    signer = hub_signer()
    key, value = record.key or b"", record.value or b""
    old = signer.sign(
        ERASURE.name, key, value, timestamp_ms=to_ms(datetime.now(UTC) - timedelta(days=3))
    )
    stale = ingest(
        RawRecord(**{**record.__dict__, "headers": tuple((n, v or b"") for n, v in old)}),
        codec(),
        ctx.directory,
        None,
        four_partitions,
        hub_keys=HUB_KEYS,
        indicators=GRID,
    )
    assert isinstance(stale, Rejected)
    assert stale.reason is DeadLetterReason.STALE_SIGNATURE


def test_an_agency_cannot_publish_an_erasure_command_on_its_outbox(ctx: Context) -> None:
    state = routed(ctx, SupportRequested, "police-93")
    forged = request(state.case_id, by="dpo.demo")
    outcome = handle(state, inbound(forged, "police-93", ctx, 5), ctx, NOW)
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION
    assert outcome.state.erasure_requests == ()
