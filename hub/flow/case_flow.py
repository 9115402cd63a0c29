"""The routing decision for one inbound event: a pure function of the case state.

``handle(state, inbound, context, now)`` validates what the sender may say, updates the
case's consent and facts, selects recipients, asks the consent policy what each may see, and
returns an ``Outcome``: the new state, the projections to deliver, the audit notes, or the
refusal that becomes a dead letter. It performs no I/O; the worker carries the outcome out.
Answers to requests are in ``hub.flow.answers``; deadline ticks in ``hub.flow.deadline_flow``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.contracts.enums import (
    AgencyRole,
    AuditAction,
    DataCategory,
    DeadLetterReason,
)
from hub.contracts.erasure_events import (
    RetentionExpiry,
)
from hub.contracts.events import (
    EVENT_MODELS,
    Acknowledgement,
    CaseClosed,
    ConsentGiven,
    ConsentWithdrawn,
    IdentificationDecision,
    ParentsInformation,
    PathwayChoiceRecorded,
    PermitRequested,
    PresumedVictimReport,
    ReferralOpened,
    RightsInformationGiven,
    SafetyFlagsSet,
)
from hub.contracts.topics import ERASURE
from hub.flow import choices
from hub.flow.answers import acknowledgement
from hub.flow.case_state import CaseState, Held, Safety, Seen, topic_crc
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome, Refusal
from hub.flow.delivery import Message, Sent, send, share_for
from hub.flow.erasure import erasure_command, frozen
from hub.flow.expiry import expire
from hub.flow.identification import decision
from hub.flow.parents import AD_HOC_REQUEST, ad_hoc_request, parents_information
from hub.flow.prosecutor_notice import REPORT
from hub.flow.routing_flow import notice_once, route
from hub.flow.withdrawal import consent_withdrawn
from hub.rules.consent import Share
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.lifecycle import InvalidTransition
from hub.rules.projection import personal_data


def handle(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """Decide what happens to ``inbound`` given the case ``state``."""
    earlier = state.seen_event(inbound.event_id)
    if earlier is not None:
        if not (inbound.redriven and earlier.refused):
            return _repeat(state, inbound, earlier)
        # A refused event re-driven after a fix is handled afresh.
        state = state.without_seen(inbound.event_id)
    if inbound.topic == ERASURE.name:
        remembered = _remember(state, inbound, ctx.replay_window)
        if isinstance(inbound.event, RetentionExpiry):
            return expire(remembered, inbound.event, ctx, now)
        return erasure_command(remembered, inbound, ctx, now)
    if state.erased_at is not None or state.restricted is not None:
        stored = None if state.erased_at is not None else _personal_data(inbound, ctx)
        contact = state.last_contact_at if state.erased_at is not None else now
        return frozen(
            _remember(state, inbound, ctx.replay_window, last_contact_at=contact),
            inbound,
            AuditNote(
                AuditAction.RECEIVED,
                f"received {inbound.subject} from {inbound.sender.id}",
                payload=stored,
            ),
        )
    refusal = _refusal(inbound, ctx) or _malformed_consent(inbound, now)
    if refusal is not None:
        return _refused(_remember(state, inbound, ctx.replay_window, refused=True), refusal)
    event = inbound.event
    outcome_field = event.outcome.value if isinstance(event, IdentificationDecision) else None
    moved = ctx.lifecycle.move(state.status, inbound.subject, outcome_field)
    if isinstance(moved, InvalidTransition):
        return _refused(
            _remember(state, inbound, ctx.replay_window, refused=True),
            Refusal(DeadLetterReason.INVALID_TRANSITION, moved.detail),
        )
    # A contact (hub.flow.expiry): an agency's event about the case, accepted, on our clock.
    state = _remember(state, inbound, ctx.replay_window, last_contact_at=now)
    received_note = AuditNote(
        AuditAction.RECEIVED,
        f"received {inbound.subject} from {inbound.sender.id}",
        payload=_personal_data(inbound, ctx),
    )
    match event:
        case ConsentGiven():
            outcome = _consent_given(state, event, ctx, now)
        case ConsentWithdrawn():
            outcome = consent_withdrawn(state, event, inbound, ctx, now)
        case SafetyFlagsSet():
            outcome = _safety(state, event)
        case Acknowledgement():
            outcome = acknowledgement(state, inbound, ctx, now)
        case IdentificationDecision():
            outcome = decision(state, inbound, ctx, now)
        case CaseClosed():
            outcome = _close(state, event)
        case ParentsInformation():
            outcome = _parents(state, event, inbound, ctx, now)
        case PresumedVictimReport():
            outcome = choices.report(state, inbound, ctx, now)
        case ReferralOpened():
            outcome = choices.referral(state, inbound, ctx, now)
        case RightsInformationGiven():
            outcome = choices.information(state, inbound)
        case PathwayChoiceRecorded():
            outcome = choices.choice(state, inbound, ctx, now)
        case PermitRequested():
            outcome = choices.agency_permit(state, inbound, ctx, now)
        case _:
            outcome = _route(state, inbound, ctx, now)
    if outcome.refusal is not None:
        return _refused(
            _remember(outcome.state, inbound, ctx.replay_window, refused=True, replace=True),
            outcome.refusal,
        )
    notes: tuple[AuditNote, ...] = (received_note,)
    state = outcome.state
    if moved is not None and moved.status is not state.status:
        notes += (
            AuditNote(
                AuditAction.CASE_TRANSITION,
                f"{state.status.value} → {moved.status.value}",
                reason="reopened" if moved.reopens else None,
            ),
        )
        state = state.model_copy(update={"status": moved.status})
    return Outcome(
        state=state,
        deliveries=outcome.deliveries,
        audit=(*notes, *outcome.audit),
        published=outcome.published,
        opened=outcome.opened,
        closed=outcome.closed,
    )


def _parents(
    state: CaseState, event: ParentsInformation, inbound: Inbound, ctx: Context, now: datetime
) -> Outcome:
    """Close the parents-informed step; when they were not informed, ask the juvenile
    prosecutor for an ad hoc administrator or a guardian on the sender's behalf."""
    closed = parents_information(state, event, inbound.sender.id, now)
    request = ad_hoc_request(closed.state, event) if closed.refusal is None else None
    if request is None:
        return closed
    asked = route(
        closed.state, AD_HOC_REQUEST, request.model_dump(), request, inbound.sender, ctx, now
    )
    if asked.refusal is not None:
        note = AuditNote(
            AuditAction.REFUSED, "no juvenile prosecutor to ask", reason=asked.refusal.reason.value
        )
        return Outcome(state=closed.state, audit=(*closed.audit, note))
    return Outcome(
        state=asked.state,
        deliveries=asked.deliveries,
        audit=(*closed.audit, *asked.audit),
        published=asked.published,
        opened=asked.opened,
        closed=closed.closed,
    )


def _personal_data(inbound: Inbound, ctx: Context) -> dict[str, dict[str, Any]] | None:
    """The personal data of an inbound event, by category, for its RECEIVED entry."""
    return personal_data(inbound.record, ctx.projector.tree(inbound.subject)) or None


def _close(state: CaseState, event: CaseClosed) -> Outcome:
    """Closing a case ends its deadlines, its open requests and its held messages."""
    closed = tuple(d.deadline_id for d in state.open_deadlines())
    notes = [AuditNote(AuditAction.CASE_TRANSITION, "case closed", reason=event.reason.value)]
    notes += [
        AuditNote(
            AuditAction.CANCELLED, f"held {h.subject} cancelled: case closed", recipient=h.recipient
        )
        for h in state.holds
    ]
    state = state.model_copy(update={"deadlines": (), "requests": (), "holds": ()})
    return Outcome(state=state, audit=tuple(notes), closed=closed)


def _refused(state: CaseState, refusal: Refusal) -> Outcome:
    note = AuditNote(AuditAction.DEAD_LETTERED, "refused", reason=refusal.reason.value)
    return Outcome(state=state, refusal=refusal, audit=(note,))


def _repeat(state: CaseState, inbound: Inbound, earlier: Seen) -> Outcome:
    """An event id seen before: a redelivery is dropped, anything else is refused."""
    here = (topic_crc(inbound.topic), inbound.partition, inbound.offset)
    if (earlier.topic_crc, earlier.partition, earlier.offset) == here:
        return Outcome(state=state, duplicate=True)
    if earlier.digest == inbound.digest:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.REPLAYED,
                f"event {inbound.event_id} was already handled from partition "
                f"{earlier.partition} offset {earlier.offset}; the copy is not routed again",
            ),
        )
    return Outcome(
        state=state,
        refusal=Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"event id {inbound.event_id} was already used by a different event",
        ),
    )


def _remember(
    state: CaseState,
    inbound: Inbound,
    window: timedelta | None,
    *,
    refused: bool = False,
    replace: bool = False,
    **changes: Any,
) -> CaseState:
    """Remember the event: a redelivery is then dropped, a replay refused. A refused event is
    remembered as refused, so reprocessing after a crash does not dead-letter it twice.
    Events older than ``window`` (the signature window: a copy of them is refused as stale
    anyway) are forgotten, so the state does not grow with the case's history. ``changes``:
    other fields set in the same copy."""
    if replace:
        state = state.without_seen(inbound.event_id)
    seen = Seen.of(
        inbound.event_id,
        inbound.topic,
        inbound.partition,
        inbound.offset,
        inbound.digest,
        refused=refused,
        at=inbound.timestamp,
    )
    return state.with_seen(seen, None if window is None else inbound.timestamp - window, **changes)


def _refusal(inbound: Inbound, ctx: Context) -> Refusal | None:
    """What the sender may not say: another sender's name, a type it may not publish."""
    envelope = inbound.envelope
    claimed, claimed_role = envelope.get("sender"), envelope.get("sender_role")
    if claimed is not None and claimed != inbound.sender.id:
        return Refusal(
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names sender {claimed!r} but the record came from "
            f"{inbound.sender.id}'s outbox",
        )
    if claimed_role is not None and claimed_role != inbound.sender.role.value:
        return Refusal(
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names role {claimed_role} but {inbound.sender.id} is "
            f"{inbound.sender.role.value}",
        )
    intake = ctx.rules.intake_refusal(inbound.sender.id, inbound.subject)
    if intake is not None:
        return Refusal(DeadLetterReason.SEMANTIC_VIOLATION, intake)
    rule = ctx.rules.for_type(inbound.subject)
    if rule is None:
        return Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"agencies do not publish {inbound.subject}; only the hub emits it",
        )
    identifying = ctx.rules.identifying_roles
    event = inbound.event
    claims = isinstance(event, ReferralOpened) or (
        isinstance(event, PresumedVictimReport) and event.claims_formal_identification
    )
    if claims and inbound.sender.role not in identifying:
        return Refusal(
            DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
            f"{inbound.sender.id} ({inbound.sender.role.value}) may not formally "
            "identify a victim: only " + ", ".join(sorted(r.value for r in identifying)) + " may",
        )
    if rule.senders is not None and inbound.sender.role not in rule.senders:
        return Refusal(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"{inbound.sender.role.value} may not send {inbound.subject}",
        )
    return None


def _malformed_consent(inbound: Inbound, now: datetime) -> Refusal | None:
    """A consent that cannot mean anything is refused, never recorded as if it did."""
    event = inbound.event
    if isinstance(event, ConsentGiven):
        categories = [c for c in event.categories if c is not DataCategory.UNKNOWN]
        roles = [r for r in event.recipient_roles if r is not AgencyRole.UNKNOWN]
        problems = [
            *(["no data category"] if not categories else []),
            *(["no recipient role"] if not roles else []),
            *(
                ["already expired"]
                if event.expires_at is not None and event.expires_at <= now
                else []
            ),
            *(["no purpose"] if not event.purpose.strip() else []),
        ]
        if problems:
            return Refusal(
                DeadLetterReason.SCHEMA_VIOLATION, "consent not recorded: " + ", ".join(problems)
            )
    if isinstance(event, ConsentWithdrawn) and (
        event.categories == () or event.recipient_roles == ()
    ):
        return Refusal(
            DeadLetterReason.SCHEMA_VIOLATION,
            "withdrawal with an empty scope (null means all; empty means nothing)",
        )
    return None


def _route(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    return route(
        state,
        inbound.subject,
        inbound.record,
        inbound.event,
        inbound.sender,
        ctx,
        now,
    )


def _consent_given(state: CaseState, event: ConsentGiven, ctx: Context, now: datetime) -> Outcome:
    """Record consent, then release every held message it now covers."""
    holds = state.holds
    state = state.model_copy(update={"consent": state.consent.given(event), "holds": ()})
    notes = [
        AuditNote(
            AuditAction.CONSENT_RECORDED,
            "consent recorded",
            legal_basis=f"consent:{event.consent_id}",
            categories=frozenset(event.categories),
            reason="roles: " + ", ".join(r.value for r in event.recipient_roles),
        )
    ]
    deliveries: list[Deliver] = []
    opened: list[OpenDeadline] = []
    reports: dict[str, Held] = {}
    for held in holds:
        released = _release(state, held, ctx, now)
        if released is None:
            state = state.model_copy(update={"holds": (*state.holds, held)})
            continue
        if held.subject == REPORT and released.deliveries:
            reports.setdefault(held.record_json, held)
        state = released.state
        deliveries += released.deliveries
        opened += released.opened
        notes += [
            AuditNote(
                AuditAction.RELEASED,
                f"released {held.subject} on consent",
                legal_basis=d.basis,
                recipient=d.recipient.id,
                categories=d.categories,
                lawful_bases=d.lawful_bases,
            )
            for d in released.deliveries
        ]
        notes += [
            n
            for n in released.notes
            if n.action is not AuditAction.ROUTED or n.decision == "deadline opened"
        ]
    for held in reports.values():
        noticed = _notice_on_release(state, held, deliveries, ctx, now)
        if noticed is not None:
            state = noticed.state
            deliveries += noticed.deliveries
            notes += noticed.audit
    return Outcome(
        state=state, deliveries=tuple(deliveries), audit=tuple(notes), opened=tuple(opened)
    )


def _notice_on_release(
    state: CaseState, held: Held, deliveries: list[Deliver], ctx: Context, now: datetime
) -> Outcome | None:
    """A report released to public officials raises the avis au procureur it could not
    raise while held — once per case (``hub.flow.prosecutor_notice``)."""
    if ctx.directory.get(held.sender) is None:
        return None
    report = PresumedVictimReport.model_validate_json(held.record_json)
    return notice_once(state, report, deliveries, ctx, now)


def _release(state: CaseState, held: Held, ctx: Context, now: datetime) -> Sent | None:
    """Send a held message again if consent now covers it (None: still not covered)."""
    agency, source = ctx.directory.get(held.recipient), ctx.directory.get(held.sender)
    if agency is None or source is None:
        return None
    if not isinstance(share_for(state, held.subject, agency, source, ctx, now), Share):
        return None
    event = EVENT_MODELS[held.subject].model_validate_json(held.record_json)
    message = Message(
        subject=held.subject,
        record=event.model_dump(),
        event=event,
        source=source,
        needs_answer=held.needs_answer,
        attempt=held.attempt,
        declined=held.declined,
    )
    return send(state, message, agency, ctx, now)


def _safety(state: CaseState, event: SafetyFlagsSet) -> Outcome:
    channel = event.safe_channel
    safety = Safety(
        do_not_contact=event.do_not_contact,
        safe_channel=None if channel.value == "UNKNOWN" else channel,
    )
    return Outcome(
        state=state.model_copy(update={"safety": safety}),
        audit=(
            AuditNote(
                AuditAction.CASE_TRANSITION,
                "safety flags set",
                reason=f"do_not_contact={safety.do_not_contact}, "
                f"safe_channel={safety.safe_channel}",
            ),
        ),
    )
