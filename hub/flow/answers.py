"""Answers to requests: business acknowledgements, and what they do to the deadline.

An answer counts only from the agency the request went to. Accepted or completed closes the
deadline; needs-information extends it (within the policy's limit); a decline re-routes the
request to the next eligible agency — excluding every agency that declined — with a fresh
deadline, or raises an orphaned need when none is left. The requester receives every answer.

Accepted is not the end of a request: it stays open (marked accepted) for later answers from
the same recipient — a prefecture's receipt, then the permit granted or refused — and only
COMPLETED ends it. COMPLETED also closes the deadlines waiting on the request: a permit's
final answer closes the reflection-period deadline of the case (``hub.rules.deadlines.closure``).
The prefecture's ACCEPTED on a reflection-period receipt request is the delivery of the
récépissé: it starts the reflection period and opens its end deadline (``hub.flow.pathway``).
Other answers after the deadline was met are relayed and audited, and change no deadline.
"""

from __future__ import annotations

from datetime import datetime

from hub.contracts.enums import (
    AckStatus,
    AuditAction,
    DeadLetterReason,
    DeclineReason,
    OrphanReason,
)
from hub.contracts.events import EVENT_MODELS, Acknowledgement
from hub.flow.case_state import CaseState, OpenRequest
from hub.flow.closure import Closures, apply_closures
from hub.flow.deadline_flow import orphaned
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome, Publish, Refusal
from hub.flow.delivery import Message, notify, send
from hub.flow.pathway import reflection_started
from hub.rules.deadlines.answers import Closed, Extended, NotExtended, Rejected, Reroute, on_ack
from hub.rules.deadlines.closure import on_final_answer
from hub.rules.routing import RouteFacts, candidates

ACKNOWLEDGEMENT = "fr.nrm.Acknowledgement"


def answer_problem(
    status: AckStatus, decline_reason: DeclineReason | None, *, received: bool = False
) -> str | None:
    """Why an answer cannot stand as sent, or None: a decline must say why (the hub re-routes
    on it and operators read it), and no other answer carries a decline reason. The same rule
    for every channel: ingest, the gateway and the clients.

    ``received``: the answer was read from an outbox, where ``UNKNOWN`` is what the schema's
    enum default gives for a reason (or a status) newer than this hub: forward compatibility,
    so it counts as a reason, and an unknown status is the deadline rules' to refuse. A
    sender never means ``UNKNOWN``.
    """
    status = AckStatus(status)
    if status is AckStatus.UNKNOWN and not received:
        return "UNKNOWN is not an answer"
    missing = (None,) if received else (None, DeclineReason.UNKNOWN)
    if status is AckStatus.DECLINED and decline_reason in missing:
        return "a DECLINED answer needs a decline_reason"
    if status is not AckStatus.DECLINED and decline_reason is not None:
        return f"a {status.value} answer has no decline_reason"
    return None


def acknowledgement(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """What an acknowledgement does to its request, its deadline and its requester."""
    assert isinstance(inbound.event, Acknowledgement)
    request_id = inbound.event.request_id
    request = state.request(request_id, inbound.sender.id)
    if request is None:
        other = state.request(request_id)
        if other is None:
            return Outcome(
                state=state,
                refusal=Refusal(
                    DeadLetterReason.UNKNOWN_REQUEST, f"no open request {request_id} in this case"
                ),
            )
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.WRONG_RESPONDER,
                f"request {request_id} went to {other.recipient}, not {inbound.sender.id}",
            ),
        )
    problem = answer_problem(inbound.event.status, inbound.event.decline_reason, received=True)
    if problem is not None:
        return Outcome(state=state, refusal=Refusal(DeadLetterReason.SCHEMA_VIOLATION, problem))
    status = inbound.event.status.value
    decline = inbound.event.decline_reason.value if inbound.event.decline_reason else None
    notes = [
        AuditNote(
            AuditAction.ACKNOWLEDGED,
            f"acknowledgement {status}",
            reason=decline,
            recipient=request.requester,
        )
    ]
    requester = ctx.directory.get(request.requester)
    deliveries: list[Deliver] = list(
        notify(
            state,
            ACKNOWLEDGEMENT,
            inbound.record,
            inbound.sender,
            [requester] if requester else [],
            ctx,
        )
    )
    deadline = state.deadline_for(request_id, inbound.sender.id, request.subject)
    if deadline is None:
        done = _progress(state, request, inbound.event.status, now)
        return Outcome(
            state=done.state,
            deliveries=tuple(deliveries),
            audit=(*notes, *done.notes),
            published=done.published,
            closed=done.closed,
        )
    answer = inbound.event.model_copy(
        update={"envelope": inbound.event.envelope.model_copy(update={"sender": inbound.sender.id})}
    )
    decision = on_ack(deadline, answer, now, ctx.deadlines)
    if isinstance(decision, Rejected):
        return Outcome(state=state, refusal=Refusal(decision.reason, decision.detail))
    if isinstance(decision, NotExtended):
        notes.append(
            AuditNote(
                AuditAction.ACKNOWLEDGED,
                "no further extension",
                reason=f"{decision.extensions} extensions already",
            )
        )
        return Outcome(state=state, deliveries=tuple(deliveries), audit=tuple(notes))
    if isinstance(decision, Extended):
        notes.append(
            AuditNote(
                AuditAction.ACKNOWLEDGED,
                "deadline extended",
                reason=f"due {decision.deadline.due_at.isoformat()}",
            )
        )
        return Outcome(
            state=state.with_deadline(decision.deadline),
            deliveries=tuple(deliveries),
            audit=tuple(notes),
            opened=(decision.deadline,),
        )
    state = state.without_deadline(deadline.deadline_id)
    published: list[Publish] = []
    if decision.resolved_orphan:
        published.append(
            orphaned(
                state,
                deadline.message_type,
                request_id,
                OrphanReason.PAST_LAST_STEP,
                deadline.declined_by,
                deadline.deadline_id,
                now,
                resolved=True,
            )
        )
    if isinstance(decision, Closed):
        done = _progress(state, request, inbound.event.status, now)
        started = reflection_started(done.state, request, inbound.event.status, ctx, now)
        return Outcome(
            state=started.state,
            deliveries=tuple(deliveries),
            audit=(*notes, *done.notes, *started.audit),
            published=(*published, *done.published),
            opened=started.opened,
            closed=(deadline.deadline_id, *done.closed),
        )
    rerouted = _reroute(state, request, decision, ctx, now)
    return Outcome(
        state=rerouted.state,
        deliveries=(*deliveries, *rerouted.deliveries),
        audit=(*notes, *rerouted.audit),
        published=(*published, *rerouted.published),
        opened=rerouted.opened,
        closed=(deadline.deadline_id,),
    )


def _progress(state: CaseState, request: OpenRequest, status: AckStatus, now: datetime) -> Closures:
    """The request after an answer: COMPLETED ends it — and closes the deadlines that were
    waiting on it (a permit's reflection-period deadline) — ACCEPTED marks it accepted
    (once)."""
    key = (request.request_id, request.recipient)
    if status is AckStatus.COMPLETED:
        kept = tuple(r for r in state.requests if (r.request_id, r.recipient) != key)
        state = state.model_copy(update={"requests": kept})
        moot = on_final_answer(
            state.open_deadlines(),
            request_id=request.request_id,
            subject=request.subject,
            recipient=request.recipient,
            status=status,
            now=now,
        )
        return apply_closures(state, moot, now)
    if status is AckStatus.ACCEPTED and request.accepted_at is None:
        accepted = request.model_copy(update={"accepted_at": now})
        kept = tuple(accepted if (r.request_id, r.recipient) == key else r for r in state.requests)
        return Closures(state.model_copy(update={"requests": kept}))
    return Closures(state)


def _reroute(
    state: CaseState, request: OpenRequest, decision: Reroute, ctx: Context, now: datetime
) -> Outcome:
    """Send a declined request to the next eligible agency, or raise an orphaned need."""
    rule = ctx.rules.for_type(request.subject)
    recipients = rule.recipients if rule is not None else ()
    recipient_rule = next((r for r in recipients if r.role is request.role), None)
    source = ctx.directory.get(request.requester)
    event = EVENT_MODELS[request.subject].model_validate_json(request.record_json)
    record = event.model_dump()
    needs = record.get("needs") or {}
    facts = RouteFacts(
        departement=state.facts.departement,
        exploitation_types=state.facts.exploitation_types,
        minor=state.facts.minor,
        urgency=state.facts.urgency,
        gender=state.facts.gender,
        remote_placement=bool(needs.get("remote_placement")),
        excluded=frozenset(decision.declined_by),
    )
    chosen = (
        candidates(recipient_rule, facts, ctx.directory, ctx.rules)
        if recipient_rule is not None
        else []
    )
    state = state.model_copy(
        update={"requests": tuple(r for r in state.requests if r is not request)}
    )
    if not chosen or source is None:
        note = AuditNote(
            AuditAction.REFUSED,
            "declined by every eligible agency",
            reason=OrphanReason.ALL_DECLINED.value,
        )
        return Outcome(
            state=state,
            audit=(note,),
            published=(
                orphaned(
                    state,
                    request.subject,
                    request.request_id,
                    OrphanReason.ALL_DECLINED,
                    decision.declined_by,
                    decision.closed_deadline_id,
                    now,
                ),
            ),
        )
    message = Message(
        subject=request.subject,
        record=record,
        event=event,
        source=source,
        needs_answer=True,
        attempt=decision.attempt,
        declined=decision.declined_by,
    )
    sent = send(state, message, chosen[0], ctx, now)
    note = AuditNote(
        AuditAction.ROUTED,
        "re-routed after a decline",
        reason=decision.decline_reason.value if decision.decline_reason else None,
        recipient=chosen[0].id,
    )
    return Outcome(
        state=sent.state, deliveries=sent.deliveries, audit=(note, *sent.notes), opened=sent.opened
    )
