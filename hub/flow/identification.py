"""The identification decision, in two stages, and what it does to the rights pathway.

Only the police/gendarmerie and the labour inspectorate decide on a report (routing.yaml
``identifying_roles``: hub policy, docs/LAW.md ID-5); a decision comes only from an authority
the report was sent to. REASONABLE_GROUNDS is the first stage (Dir. 2011/36 art. 11(2),
Warsaw art. 10(2)): it meets the report's decision deadline and opens the pathway
(``hub.flow.pathway``), and the report stays open for the conclusive decision, which the
deciding authority then owes within the ``conclusive_decision`` deadline (hub policy: no text
sets one; the ladder chases it like any request). IDENTIFIED
closes the report and opens the pathway if the first stage did not; NOT_IDENTIFIED closes the
report and no assistance (``pathway.not_identified``); TRANSFERRED re-routes the report to the
other competent authority. No decision raises a permit request: only the person's recorded
choice does (``hub.flow.choices``). The reporter receives every decision as a notice without
personal data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hub.contracts.enums import (
    AuditAction,
    DeadLetterReason,
    IdentificationOutcome,
)
from hub.contracts.events import (
    EVENT_MODELS,
    IdentificationDecision,
    PresumedVictimReport,
)
from hub.flow.case_state import CaseState, OpenRequest
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome, Refusal
from hub.flow.delivery import Message, deadline_owed, notify, send
from hub.flow.pathway import assistance, not_identified, opened, outcome_of
from hub.flow.routing_flow import notice_once
from hub.rules.deadlines.answers import Rejected, on_identification_decision
from hub.rules.deadlines.policy import CONCLUSIVE_DECISION

DECISION = "fr.nrm.IdentificationDecision"
REPORT = "fr.nrm.PresumedVictimReport"


def decision(state: CaseState, inbound: Inbound, ctx: Context, now: datetime) -> Outcome:
    """What an identification decision does to its report, the reporter and the case."""
    assert isinstance(inbound.event, IdentificationDecision)
    event = inbound.event
    report_id = event.report_event_id
    asked = [r for r in state.requests if r.request_id == report_id and r.subject == REPORT]
    if not asked:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.UNKNOWN_REQUEST, f"no report {report_id} awaits a decision"
            ),
        )
    if inbound.sender.id not in {r.recipient for r in asked}:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.WRONG_RESPONDER,
                f"report {report_id} was sent to {', '.join(sorted(r.recipient for r in asked))},"
                f" not {inbound.sender.id}",
            ),
        )
    request = next(r for r in asked if r.recipient == inbound.sender.id)
    signed = event.model_copy(
        update={"envelope": event.envelope.model_copy(update={"sender": inbound.sender.id})}
    )
    notes = [
        AuditNote(
            AuditAction.CASE_TRANSITION,
            f"identification decision {event.outcome}",
            reason=event.not_identified_reason.value if event.not_identified_reason else None,
            recipient=request.requester,
        )
    ]
    reporter = ctx.directory.get(request.requester)
    deliveries: list[Deliver] = list(
        notify(state, DECISION, inbound.record, inbound.sender, [reporter] if reporter else [], ctx)
    )
    deadline = state.deadline_for(report_id, inbound.sender.id, REPORT)
    if event.outcome is IdentificationOutcome.TRANSFERRED:
        return _transfer(state, request, signed, deadline, ctx, now, deliveries, notes)
    if deadline is not None:
        verdict = on_identification_decision(deadline, signed, now)
        if isinstance(verdict, Rejected):
            return Outcome(state=state, refusal=Refusal(verdict.reason, verdict.detail))
    # A decision settles the report for every authority it went to.
    closed = [d.deadline_id for d in state.open_deadlines() if d.request_id == report_id]
    for deadline_id in closed:
        state = state.without_deadline(deadline_id)
    report = EVENT_MODELS[REPORT].model_validate_json(request.record_json)
    assert isinstance(report, PresumedVictimReport)
    if event.outcome is IdentificationOutcome.NOT_IDENTIFIED:
        state = _settled(state, report_id)
        after = not_identified(state, ctx, now)
        return outcome_of(
            after.state,
            [Outcome(state=state, deliveries=tuple(deliveries), closed=tuple(closed)), after],
            notes,
        )
    if event.outcome is IdentificationOutcome.IDENTIFIED:
        state = _settled(state, report_id)
    due = Outcome(state=state)
    if event.outcome is IdentificationOutcome.REASONABLE_GROUNDS:
        due = conclusive_due(state, report_id, inbound.sender.id, ctx, now)
    stage = opened(due.state, event.outcome.value, report.languages, ctx, now)
    helped = assistance(
        stage.state,
        report.envelope.event_id,
        report.accommodation_needs,
        report.support_needed,
        report.departement,
        report.person,
        inbound.sender,
        ctx,
        now,
    )
    return outcome_of(
        helped.state,
        [
            Outcome(state=state, deliveries=tuple(deliveries), closed=tuple(closed)),
            due,
            stage,
            helped,
        ],
        notes,
    )


def conclusive_due(
    state: CaseState, report_id: uuid.UUID, authority_id: str, ctx: Context, now: datetime
) -> Outcome:
    """After a reasonable-grounds decision, the deciding authority owes the conclusive one:
    a ``conclusive_decision`` deadline on the report (hub policy, deadlines.yaml), chased by
    the ladder like any other and closed by the conclusive decision. Opened once."""
    authority = ctx.directory.get(authority_id)
    if authority is None or state.deadline_for(report_id, authority_id, CONCLUSIVE_DECISION):
        return Outcome(state=state)
    deadline = deadline_owed(
        state, authority, ctx, now, request_id=report_id, message_type=CONCLUSIVE_DECISION
    )
    if deadline is None:
        return Outcome(state=state)
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "conclusive identification decision due",
        reason=f"due {deadline.due_at.isoformat()} (hub policy)",
        recipient=authority.id,
    )
    return Outcome(state=state.with_deadline(deadline), audit=(note,), opened=(deadline,))


def _settled(state: CaseState, report_id: uuid.UUID) -> CaseState:
    """The state once the conclusive decision settles the report for every authority."""
    return state.model_copy(
        update={
            "requests": tuple(
                r for r in state.requests if not (r.request_id == report_id and r.subject == REPORT)
            )
        }
    )


def _transfer(
    state: CaseState,
    request: OpenRequest,
    event: IdentificationDecision,
    deadline: Any,
    ctx: Context,
    now: datetime,
    deliveries: list[Deliver],
    notes: list[AuditNote],
) -> Outcome:
    """Send the report to the authority it was transferred to, with a fresh deadline."""
    role = event.transferred_to_role
    departement = state.facts.departement or ""
    declined = (*request.declined, request.recipient)
    target = (
        next(
            (
                a
                for a in ctx.directory.near(role, departement)
                if not a.national and a.id not in declined
            ),
            None,
        )
        if role
        else None
    )
    closed: tuple[uuid.UUID, ...] = ()
    if deadline is not None:
        verdict = on_identification_decision(deadline, event, now)
        if isinstance(verdict, Rejected):
            return Outcome(state=state, refusal=Refusal(verdict.reason, verdict.detail))
        state = state.without_deadline(deadline.deadline_id)
        closed = (deadline.deadline_id,)
    source = ctx.directory.get(request.requester)
    if target is None or source is None:
        notes.append(
            AuditNote(
                AuditAction.REFUSED,
                "no authority to transfer the report to",
                reason=DeadLetterReason.NO_ELIGIBLE_RECIPIENT.value,
            )
        )
        return Outcome(state=state, deliveries=tuple(deliveries), audit=tuple(notes), closed=closed)
    state = state.model_copy(
        update={"requests": tuple(r for r in state.requests if r is not request)}
    )
    asked_already = any(
        r.request_id == request.request_id and r.recipient == target.id for r in state.requests
    )
    held_already = any(
        h.subject == REPORT and h.event_id == request.request_id and h.recipient == target.id
        for h in state.holds
    )
    if asked_already or held_already:
        # Both authorities were asked (labour trafficking is also a crime): no second copy,
        # also when the first waits for the person's consent (its release delivers it).
        notes.append(
            AuditNote(AuditAction.ROUTED, "report already with the authority", recipient=target.id)
        )
        return Outcome(state=state, deliveries=tuple(deliveries), audit=tuple(notes), closed=closed)
    report = EVENT_MODELS[REPORT].model_validate_json(request.record_json)
    record = report.model_dump()
    message = Message(
        subject=REPORT,
        record=record,
        event=report,
        source=source,
        needs_answer=True,
        attempt=len(declined),
        declined=declined,
    )
    sent = send(state, message, target, ctx, now)
    notes.append(AuditNote(AuditAction.ROUTED, "report transferred", recipient=target.id))
    moved = Outcome(
        state=sent.state,
        deliveries=(*deliveries, *sent.deliveries),
        audit=(*notes, *sent.notes),
        opened=sent.opened,
        closed=closed,
    )
    # Transferred to public officials: the parquet is told as on the report's own routing.
    assert isinstance(report, PresumedVictimReport)
    noticed = notice_once(sent.state, report, sent.deliveries, ctx, now)
    return moved if noticed is None else outcome_of(noticed.state, [moved, noticed])
