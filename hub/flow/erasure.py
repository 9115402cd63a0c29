"""Erasure as a workflow, decided by the worker that owns the case, in order on its partition.

``hub erase request`` and ``hub erase approve`` write ``ErasureRequested`` and
``ErasureApproved`` to ``nrm.erasure`` (signed by the hub, keyed by case id); the worker reads
them with the outboxes, so they take their place among the case's other events and the case's
chain keeps a single writer: an erasure can never fork it.

- A request is recorded (its operator as the actor) and kept pending in the case state.
- A rejection by a data-protection officer ends a pending request, with its reason.
- An approval is checked: a pending request of that id; the approver a data-protection
  officer of the roster and not the requester (four eyes, ``hub.rules.roles``). A refused
  approval is recorded (REFUSED) and the request stays pending.
- Then the legal holds (``hub.rules.holds``): if one applies, the case's processing is
  **restricted** (RGPD art. 18): deadlines and held messages end, the state keeps what the
  hold needs, every later event is stored in the chain and shared with nobody; otherwise the
  case is **erased** (art. 17): its key is destroyed, its state reduced to its id and chain
  head. Either way every agency that received data of the case is sent an ``ErasureNotice``
  (art. 19), and the chain records each step.

``frozen`` is what becomes of any later event of a restricted or erased case.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from hub.contracts.enums import AckStatus, AgencyRole, AuditAction, DataCategory, ErasureOutcome
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureNotice,
    ErasureRejected,
    ErasureRequested,
    RestrictionLifted,
)
from hub.contracts.events import (
    Acknowledgement,
    subject_of,
)
from hub.flow.case_state import CaseState, PendingErasure, Restriction
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome
from hub.rules.holds import CaseHoldFacts, holds_on
from hub.rules.lifecycle import CaseStatus
from hub.rules.roles import Denied, Permission, decide, four_eyes

NOTICE_NAMESPACE = uuid.UUID("5f0c2f8e-4d7b-4c1e-9a51-e7a5e0b1c0de")
ERASURE_BASIS = "RGPD art. 17(1)"
RESTRICTION_BASIS = "RGPD art. 17(3), art. 18"
NOTICE_BASIS = "RGPD art. 19"
LIFT_BASIS = "RGPD art. 18(3)"
NOTICE_SUBJECT = subject_of(ErasureNotice)
NOTICE_KINDS = {
    ErasureOutcome.ERASED: "erasure",
    ErasureOutcome.RESTRICTED: "restriction",
    ErasureOutcome.RESTRICTION_LIFTED: "restriction lifted",
}
DECIDING = frozenset({AckStatus.COMPLETED, AckStatus.DECLINED})
"""Answers that end a request (a permit granted or refused)."""


def operator_actor(operator_id: str) -> str:
    """How an operator appears as an audit entry's actor."""
    return f"operator:{operator_id}"


def erasure_command(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Decide an ``ErasureRequested``, ``ErasureApproved``, ``ErasureRejected`` or
    ``RestrictionLifted`` read from ``nrm.erasure``."""
    event = inbound.event
    if isinstance(event, ErasureRequested):
        return _requested(state, event, now)
    if isinstance(event, ErasureApproved):
        return _approved(state, event, ctx, now)
    if isinstance(event, ErasureRejected):
        return _rejected(state, event, ctx)
    if isinstance(event, RestrictionLifted):
        return _lifted(state, event, ctx, now)
    raise TypeError(f"not an erasure command: {inbound.subject}")  # ingest lets no other in


def _requested(state: CaseState, event: ErasureRequested, now: datetime) -> Outcome:
    actor = operator_actor(event.requested_by)
    if state.erased_at is not None:
        note = AuditNote(
            AuditAction.REFUSED,
            "erasure request refused",
            reason="case already erased",
            actor=actor,
        )
        return Outcome(state=state, audit=(note,))
    if any(p.request_id == event.request_id for p in state.erasure_requests):
        return Outcome(state=state, duplicate=True)
    pending = PendingErasure(
        request_id=event.request_id,
        requested_by=event.requested_by,
        reason=event.reason,
        requested_at=now,
    )
    note = AuditNote(
        AuditAction.RECEIVED,
        f"erasure requested ({event.request_id})",
        reason=event.reason,
        legal_basis=ERASURE_BASIS,
        actor=actor,
    )
    state = state.model_copy(update={"erasure_requests": (*state.erasure_requests, pending)})
    return Outcome(state=state, audit=(note,))


def _approved(state: CaseState, event: ErasureApproved, ctx: Context, now: datetime) -> Outcome:
    actor = operator_actor(event.approved_by)
    pending = next((p for p in state.erasure_requests if p.request_id == event.request_id), None)
    if pending is None:
        note = AuditNote(
            AuditAction.REFUSED,
            "erasure approval refused",
            reason=f"no pending erasure request {event.request_id}",
            actor=actor,
        )
        return Outcome(state=state, audit=(note,))
    allowed = four_eyes(pending.requested_by, ctx.operators.grant(event.approved_by))
    if isinstance(allowed, Denied):
        note = AuditNote(
            AuditAction.REFUSED, "erasure approval refused", reason=allowed.reason, actor=actor
        )
        return Outcome(state=state, audit=(note,))
    approval = AuditNote(
        AuditAction.RECEIVED,
        f"erasure approved ({event.request_id}), requested by {pending.requested_by}",
        legal_basis=ERASURE_BASIS,
        actor=actor,
    )
    rest = tuple(p for p in state.erasure_requests if p.request_id != event.request_id)
    state = state.model_copy(update={"erasure_requests": rest})
    holds = holds_on(hold_facts(state), event.declared_holds, ctx.holds)
    if holds:
        return _restrict(state, pending, holds, approval, ctx, now)
    return _erase(state, pending, approval, ctx, now)


def _rejected(state: CaseState, event: ErasureRejected, ctx: Context) -> Outcome:
    """A DPO rejects a pending request: recorded with its reason (for the person, art. 12(4)),
    no longer pending. Anyone else's rejection is refused and changes nothing."""
    actor = operator_actor(event.rejected_by)
    pending = next((p for p in state.erasure_requests if p.request_id == event.request_id), None)
    allowed = decide(ctx.operators.grant(event.rejected_by), Permission.APPROVE_ERASURE)
    if pending is None or isinstance(allowed, Denied):
        why = (
            allowed.reason
            if isinstance(allowed, Denied)
            else f"no pending erasure request {event.request_id}"
        )
        note = AuditNote(AuditAction.REFUSED, "erasure rejection refused", reason=why, actor=actor)
        return Outcome(state=state, audit=(note,))
    rest = tuple(p for p in state.erasure_requests if p.request_id != event.request_id)
    note = AuditNote(
        AuditAction.REFUSED,
        f"erasure request rejected ({event.request_id}), requested by {pending.requested_by}",
        reason=event.reason,
        actor=actor,
    )
    return Outcome(state=state.model_copy(update={"erasure_requests": rest}), audit=(note,))


def _lifted(state: CaseState, event: RestrictionLifted, ctx: Context, now: datetime) -> Outcome:
    """A data-protection officer lifts a restriction (art. 18(3)): only the restriction the
    officer names, only once the person was told (after the restriction began, before now),
    only when no hold the hub can see still applies. Processing resumes; every recipient told
    of the restriction is told it has ended."""
    actor = operator_actor(event.lifted_by)
    allowed = decide(ctx.operators.grant(event.lifted_by), Permission.APPROVE_ERASURE)
    restriction = state.restricted
    holds = holds_on(hold_facts(state), (), ctx.holds)
    why: str | None = None
    if isinstance(allowed, Denied):
        why = allowed.reason
    elif restriction is None or restriction.request_id != event.request_id:
        why = f"no restriction {event.request_id} on the case"
    elif not restriction.since <= event.person_informed_at <= now:
        why = "the person must be told after the restriction began and before it is lifted"
    elif holds:
        why = f"legal hold still applies: {', '.join(holds)}"
    if why is not None:
        note = AuditNote(AuditAction.REFUSED, "restriction lift refused", reason=why, actor=actor)
        return Outcome(state=state, audit=(note,))
    sent, notice_notes = notices(
        state,
        event.request_id,
        ErasureOutcome.RESTRICTION_LIFTED,
        (),
        ctx,
        now,
        f"{LIFT_BASIS}, art. 19",
    )
    notes = (
        AuditNote(
            AuditAction.RECEIVED,
            f"restriction lifted ({event.request_id}), person informed "
            f"{event.person_informed_at:%Y-%m-%d %H:%M} UTC",
            reason=event.reason,
            legal_basis=LIFT_BASIS,
            actor=actor,
        ),
        AuditNote(AuditAction.CASE_TRANSITION, "processing resumed", legal_basis=LIFT_BASIS),
        *notice_notes,
    )
    state = state.model_copy(update={"restricted": None})
    return Outcome(state=state, deliveries=sent, audit=notes)


def hold_facts(state: CaseState) -> CaseHoldFacts:
    """What the legal holds read of ``state``."""
    return CaseHoldFacts(
        open_request_subjects=frozenset(r.subject for r in state.requests),
        recipient_roles=frozenset(r.role for r in state.received),
        closed=state.status is CaseStatus.CLOSED,
    )


def _restrict(
    state: CaseState,
    pending: PendingErasure,
    holds: tuple[str, ...],
    approval: AuditNote,
    ctx: Context,
    now: datetime,
) -> Outcome:
    """Art. 18: stored, shared no further. Deadlines and held messages end; the open
    requests stay in the state (they are what the hold is about)."""
    sent, notice_notes = notices(
        state, pending.request_id, ErasureOutcome.RESTRICTED, holds, ctx, now
    )
    named = ", ".join(holds)
    notes = (
        approval,
        AuditNote(AuditAction.REFUSED, "erasure refused: legal hold", reason=named),
        *(
            AuditNote(
                AuditAction.CANCELLED,
                f"held {h.subject} cancelled: processing restricted",
                recipient=h.recipient,
            )
            for h in state.holds
        ),
        AuditNote(
            AuditAction.CASE_TRANSITION,
            "processing restricted",
            reason=f"legal hold: {named}",
            legal_basis=RESTRICTION_BASIS,
        ),
        *notice_notes,
    )
    restriction = Restriction(request_id=pending.request_id, holds=holds, since=now)
    closed = tuple(d.deadline_id for d in state.open_deadlines())
    state = state.model_copy(update={"restricted": restriction, "deadlines": (), "holds": ()})
    return Outcome(state=state, deliveries=sent, audit=notes, closed=closed)


def _erase(
    state: CaseState, pending: PendingErasure, approval: AuditNote, ctx: Context, now: datetime
) -> Outcome:
    """Art. 17: the key is destroyed first, then the notices and the ERASED entry are written;
    the state keeps only what chaining and de-duplication need."""
    sent, notice_notes = notices(state, pending.request_id, ErasureOutcome.ERASED, (), ctx, now)
    categories = frozenset(c for r in state.received for c in r.categories) - {DataCategory.UNKNOWN}
    notes = (
        approval,
        *notice_notes,
        AuditNote(
            AuditAction.ERASED,
            "erase",
            reason=pending.reason,
            legal_basis=ERASURE_BASIS,
            categories=categories,
        ),
    )
    closed = tuple(d.deadline_id for d in state.open_deadlines())
    return Outcome(
        state=tombstone(state, now),
        deliveries=sent,
        audit=notes,
        closed=closed,
        destroy_key=True,
    )


def tombstone(state: CaseState, now: datetime) -> CaseState:
    """What an erased case's state keeps: its id, its chain head (the worker goes on chaining
    after the ERASED entry) and its recent event ids (a redelivery is still dropped)."""
    return CaseState(
        case_id=state.case_id,
        status=CaseStatus.CLOSED,
        seen=state.seen,
        audit_head=state.audit_head,
        erased_at=now,
    )


def notices(
    state: CaseState,
    request_id: uuid.UUID,
    outcome: ErasureOutcome,
    holds: tuple[str, ...],
    ctx: Context,
    now: datetime,
    basis: str = NOTICE_BASIS,
) -> tuple[tuple[Deliver, ...], tuple[AuditNote, ...]]:
    """An ``ErasureNotice`` to every agency that received data of the case (art. 19), and the
    audit notes saying so; an agency gone from the directory cannot be told, and the chain
    says that too ("unless this proves impossible"). ``basis``: the articles the notice
    cites."""
    deliveries: list[Deliver] = []
    notes: list[AuditNote] = []
    kind = NOTICE_KINDS[outcome]
    for received in sorted(state.received, key=lambda r: (r.recipient, r.role.value)):
        agency = ctx.directory.get(received.recipient)
        if agency is None:
            notes.append(
                AuditNote(
                    AuditAction.REFUSED,
                    f"{kind} notice impossible",
                    reason="agency no longer in the directory",
                    recipient=received.recipient,
                    legal_basis=basis,
                )
            )
            continue
        categories = sorted(received.categories - {DataCategory.UNKNOWN})
        notice = ErasureNotice(
            envelope=Envelope(
                event_id=uuid.uuid5(
                    NOTICE_NAMESPACE, f"{request_id}/{received.recipient}/{outcome}"
                ),
                case_id=state.case_id,
                occurred_at=now,
                sender="hub",
                sender_role=AgencyRole.HUB,
            ),
            request_id=request_id,
            outcome=outcome,
            categories=tuple(categories),
            holds=holds,
            legal_basis=basis,
        )
        deliveries.append(
            Deliver(
                recipient=agency,
                subject=NOTICE_SUBJECT,
                record=notice.model_dump(),
                categories=frozenset(),
                basis=basis,
            )
        )
        notes.append(
            AuditNote(  # no legal basis: nothing was shared (a notice, not a disclosure)
                AuditAction.ROUTED,
                f"{kind} notice sent",
                reason=basis,
                recipient=agency.id,
                categories=frozenset(categories),
            )
        )
    return tuple(deliveries), tuple(notes)


def frozen(state: CaseState, inbound: Inbound, received: AuditNote) -> Outcome:
    """A later event of a restricted or erased case: stored in the chain (``received``, the
    RECEIVED note; an erased case's personal data is not written: its key is gone), shared
    with nobody, never a dead letter (that would copy the data in clear).

    One thing is still taken into account on a restricted case: the recipient of an open
    request deciding it (COMPLETED or DECLINED; a prefecture's permit decision) ends that
    request, so a hold that rested on it (``PENDING_PERMIT_DECISION``) no longer applies to a
    later erasure request. Nothing else changes."""
    erased = state.erased_at is not None
    why = "case erased" if erased else "processing restricted"
    basis = ERASURE_BASIS if erased else RESTRICTION_BASIS
    notes = [
        received,
        AuditNote(
            AuditAction.REFUSED,
            f"{inbound.subject} from {inbound.sender.id} not shared",
            reason=why,
            legal_basis=basis,
        ),
    ]
    event = inbound.event
    if (
        not erased
        and isinstance(event, Acknowledgement)
        and event.status in DECIDING
        and state.request(event.request_id, inbound.sender.id) is not None
    ):
        kept = tuple(r for r in state.requests if r.request_id != event.request_id)
        state = state.model_copy(update={"requests": kept})
        notes.append(
            AuditNote(
                AuditAction.ACKNOWLEDGED,
                "request decided while restricted",
                reason=event.status.value,
                recipient=inbound.sender.id,
            )
        )
    return Outcome(state=state, audit=tuple(notes))
