"""The identification decision, and the rights pathway it opens.

Since the law of 13 April 2016 only the police/gendarmerie and the labour inspectorate may
formally identify a victim. A report goes to the competent authority with a decision deadline;
its decision comes only from an authority the report was sent to. IDENTIFIED closes the
report's deadlines and opens the pathway (``pathway.yaml``): the recovery and reflection
period with its end date, and the accommodation, support and permit requests the report's
assessed needs call for, each through the consent gate with its own deadline. NOT_IDENTIFIED
closes them; TRANSFERRED re-routes the report to the other competent authority. The reporter
receives the outcome as a notice without personal data.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from hub.contracts.enums import (
    AuditAction,
    DeadLetterReason,
    IdentificationOutcome,
)
from hub.contracts.events import (
    EVENT_MODELS,
    AccommodationRequested,
    Envelope,
    IdentificationDecision,
    PermitRequested,
    PresumedVictimReport,
    SupportRequested,
)
from hub.flow.case_state import CaseState, OpenRequest
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome, Publish, Refusal
from hub.flow.delivery import Message, notify, send
from hub.flow.routing_flow import route
from hub.rules.deadlines.answers import Rejected, on_identification_decision
from hub.rules.deadlines.open_deadline import OpenDeadline, Supervisor, open_deadline
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END, NoDeadlineRule
from hub.rules.directory import Agency
from hub.rules.nationality import permit_route

DECISION = "fr.nrm.IdentificationDecision"
REPORT = "fr.nrm.PresumedVictimReport"
PATHWAY_NAMESPACE = uuid.UUID("3f9a1c7e-0b2d-4e8f-9a6c-706174687761")


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
    state = state.model_copy(
        update={
            "requests": tuple(
                r for r in state.requests if not (r.request_id == report_id and r.subject == REPORT)
            )
        }
    )
    if event.outcome is not IdentificationOutcome.IDENTIFIED:
        return Outcome(
            state=state, deliveries=tuple(deliveries), audit=tuple(notes), closed=tuple(closed)
        )
    report = EVENT_MODELS[REPORT].model_validate_json(request.record_json)
    assert isinstance(report, PresumedVictimReport)
    opened = _pathway(state, report, inbound.sender, ctx, now)
    return Outcome(
        state=opened.state,
        deliveries=(*deliveries, *opened.deliveries),
        audit=(*notes, *opened.audit),
        published=opened.published,
        opened=opened.opened,
        closed=tuple(closed),
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
    if any(r.request_id == request.request_id and r.recipient == target.id for r in state.requests):
        # Both authorities were asked (labour trafficking is also a crime): no second copy.
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
    return Outcome(
        state=sent.state,
        deliveries=(*deliveries, *sent.deliveries),
        audit=(*notes, *sent.notes),
        opened=sent.opened,
        closed=closed,
    )


def _pathway(
    state: CaseState, report: PresumedVictimReport, authority: Agency, ctx: Context, now: datetime
) -> Outcome:
    """Open the reflection period and raise the requests the report's needs call for."""
    ends = now + timedelta(days=ctx.pathway.reflection_period_days)
    state = state.model_copy(update={"reflection_ends": ends})
    notes = [
        AuditNote(
            AuditAction.CASE_TRANSITION,
            "recovery and reflection period opened",
            reason=f"ends {ends.date().isoformat()}",
            legal_basis=ctx.pathway.reflection_period_source[:200],
        )
    ]
    deliveries: list[Deliver] = []
    published: list[Publish] = []
    opened: list[OpenDeadline] = []
    for subject, record in _raised(report, ctx, now):
        routed = route(
            state,
            subject,
            record,
            EVENT_MODELS[subject].model_validate(record),
            authority,
            ctx,
            now,
        )
        if routed.refusal is not None:
            notes.append(
                AuditNote(
                    AuditAction.REFUSED,
                    f"could not raise {subject}",
                    reason=routed.refusal.reason.value,
                )
            )
            continue
        state = routed.state
        deliveries += routed.deliveries
        notes += routed.audit
        published += routed.published
        opened += routed.opened
        if subject == "fr.nrm.PermitRequested":
            reflection = _reflection_deadline(state, record, ctx, now)
            if reflection is not None:
                state = state.with_deadline(reflection)
                opened.append(reflection)
    return Outcome(
        state=state,
        deliveries=tuple(deliveries),
        audit=tuple(notes),
        published=tuple(published),
        opened=tuple(opened),
    )


def _raised(
    report: PresumedVictimReport, ctx: Context, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """The requests identification raises from the report, per pathway policy."""
    case_id, base = report.envelope.case_id, report.envelope.event_id
    raised: list[tuple[str, dict[str, Any]]] = []

    def envelope(kind: str) -> Envelope:
        return Envelope(
            event_id=uuid.uuid5(PATHWAY_NAMESPACE, f"{base}/{kind}/event"),
            case_id=case_id,
            occurred_at=now,
            causation_id=base,
            correlation_id=case_id,
        )

    def request_id(kind: str) -> uuid.UUID:
        return uuid.uuid5(PATHWAY_NAMESPACE, f"{base}/{kind}/request")

    if report.accommodation_needs is not None and ctx.pathway.raises(
        "fr.nrm.AccommodationRequested"
    ):
        raised.append(
            (
                "fr.nrm.AccommodationRequested",
                AccommodationRequested(
                    envelope=envelope("accommodation"),
                    request_id=request_id("accommodation"),
                    needs=report.accommodation_needs,
                    person=report.person,
                ).model_dump(),
            )
        )
    if report.support_needed and ctx.pathway.raises("fr.nrm.SupportRequested"):
        raised.append(
            (
                "fr.nrm.SupportRequested",
                SupportRequested(
                    envelope=envelope("support"),
                    request_id=request_id("support"),
                    support_types=report.support_needed,
                    departement=report.departement,
                    person=report.person,
                ).model_dump(),
            )
        )
    permit = ctx.pathway.raises("fr.nrm.PermitRequested")
    if permit is not None and permit.permit_type is not None and _needs_residence_permit(report):
        raised.append(
            (
                "fr.nrm.PermitRequested",
                PermitRequested(
                    envelope=envelope("permit"),
                    request_id=request_id("permit"),
                    permit_type=permit.permit_type,
                    departement=report.departement,
                    person=report.person,
                ).model_dump(),
            )
        )
    return raised


def _needs_residence_permit(report: PresumedVictimReport) -> bool:
    """Whether the person is in the CESEDA victim-permit route (``hub.rules.nationality``):
    not for French, EU, EEA or Swiss nationals, nor when the nationality is not known."""
    person = report.person
    if person is None:
        return False
    return permit_route(person.nationalities, person.immigration_status).needs_residence_permit


def _reflection_deadline(
    state: CaseState, permit: dict[str, Any], ctx: Context, now: datetime
) -> Any:
    """The reminder before the reflection period ends while the permit answer is pending."""
    request = state.request(uuid.UUID(str(permit["request_id"])))
    if request is None:
        return None
    prefecture = ctx.directory.get(request.recipient)
    if prefecture is None:
        return None
    supervisor = ctx.directory.get(prefecture.supervisor) if prefecture.supervisor else None
    try:
        return open_deadline(
            case_id=state.case_id,
            request_id=request.request_id,
            recipient_agency=prefecture.id,
            recipient_role=prefecture.role,
            message_type=REFLECTION_PERIOD_END,
            departement=state.facts.departement or prefecture.departements[0],
            minor=state.facts.minor,
            urgency=state.facts.urgency,
            opened_at=now,
            policy=ctx.deadlines,
            supervisor=Supervisor(supervisor.id, supervisor.role) if supervisor else None,
        )
    except NoDeadlineRule:
        return None
