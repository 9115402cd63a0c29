"""The rights pathway: assistance without conditions, the decisions that open the pathway, and
the reflection period that starts with the prefecture's récépissé.

- **Assistance first.** A report that assessed accommodation or support needs raises the
  requests at once, before any identification, through the consent gate (Dir. 2011/36
  art. 11(2)-(3), Warsaw art. 12(6)): nothing about cooperation, complaint or decision is
  asked. Each request is raised once per case (``Pathway.raised``).
- **Reasonable grounds, then the conclusive decision.** A reasonable-grounds decision (or a
  positive conclusive one without it) opens the pathway: any assistance not yet raised, and
  the information on the reflection period, due in a language the person understands
  (CESEDA R425-1). A negative decision closes no assistance: the requests stay open and the
  hub records a notice period (hub policy, ``pathway.yaml``).
- **The reflection period** runs from the delivery of the récépissé (R425-2): the
  prefecture's ACCEPTED on a ``REFLECTION_PERIOD_RECEIPT`` request starts it, and its end is
  tracked by the ``reflection_period_end`` deadline.

The person's own choices (which alone raise a permit request) are in ``hub.flow.choices``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from hub.contracts.enums import AckStatus, AuditAction, PermitType
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    AccommodationNeeds,
    AccommodationRequested,
    PermitRequested,
    Person,
    SupportRequested,
)
from hub.flow.case_state import CaseState, OpenRequest, Pathway
from hub.flow.decisions import AuditNote, Context, Deliver, Outcome, Publish
from hub.flow.delivery import deadline_owed
from hub.flow.routing_flow import route
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END
from hub.rules.directory import Agency

PATHWAY_NAMESPACE = uuid.UUID("3f9a1c7e-0b2d-4e8f-9a6c-706174687761")
ACCOMMODATION = "fr.nrm.AccommodationRequested"
SUPPORT = "fr.nrm.SupportRequested"
PERMIT = "fr.nrm.PermitRequested"


def outcome_of(
    state: CaseState, parts: Iterable[Outcome], notes: Sequence[AuditNote] = ()
) -> Outcome:
    """One outcome from several, in order, ending in ``state``."""
    deliveries: list[Deliver] = []
    audit: list[AuditNote] = list(notes)
    published: list[Publish] = []
    opened: list[OpenDeadline] = []
    closed: list[uuid.UUID] = []
    for part in parts:
        deliveries += part.deliveries
        audit += part.audit
        published += part.published
        opened += part.opened
        closed += part.closed
    return Outcome(
        state=state,
        deliveries=tuple(deliveries),
        audit=tuple(audit),
        published=tuple(published),
        opened=tuple(opened),
        closed=tuple(closed),
    )


def raise_request(
    state: CaseState,
    kind: str,
    subject: str,
    event: BaseModel,
    source: Agency,
    ctx: Context,
    now: datetime,
) -> Outcome:
    """Route one request the hub raises on the person's behalf (once per ``kind``): ``event``
    as built, its record dumped once (never validated back from the dump)."""
    routed = route(state, subject, event.model_dump(), event, source, ctx, now)
    if routed.refusal is not None:
        note = AuditNote(
            AuditAction.REFUSED, f"could not raise {subject}", reason=routed.refusal.reason.value
        )
        return Outcome(state=state, audit=(note,))
    marked = routed.state.pathway.model_copy(
        update={"raised": routed.state.pathway.raised | {kind}}
    )
    return Outcome(
        state=routed.state.model_copy(update={"pathway": marked}),
        deliveries=routed.deliveries,
        audit=routed.audit,
        published=routed.published,
        opened=routed.opened,
    )


def envelope_for(case_id: uuid.UUID, cause: uuid.UUID, kind: str, now: datetime) -> Envelope:
    """The envelope of a request the hub raises, derived from its cause (a redelivered cause
    raises the same ids)."""
    return Envelope(
        event_id=uuid.uuid5(PATHWAY_NAMESPACE, f"{cause}/{kind}/event"),
        case_id=case_id,
        occurred_at=now,
        causation_id=cause,
        correlation_id=case_id,
    )


def request_id_for(cause: uuid.UUID, kind: str) -> uuid.UUID:
    """The id of a request the hub raises, derived from its cause."""
    return uuid.uuid5(PATHWAY_NAMESPACE, f"{cause}/{kind}/request")


def assistance(
    state: CaseState,
    cause: uuid.UUID,
    accommodation: AccommodationNeeds | None,
    support: Sequence[Any],
    departement: str | None,
    person: Person | None,
    source: Agency,
    ctx: Context,
    now: datetime,
) -> Outcome:
    """Raise the accommodation and support requests assessed needs call for, unless the case
    already raised them: no decision, complaint or cooperation is a condition."""
    parts: list[Outcome] = []
    case_id = state.case_id
    if person is None:
        return Outcome(state=state)
    if (
        accommodation is not None
        and "accommodation" not in state.pathway.raised
        and ctx.pathway.raises(ACCOMMODATION)
    ):
        accommodation_request = AccommodationRequested(
            envelope=envelope_for(case_id, cause, "accommodation", now),
            request_id=request_id_for(cause, "accommodation"),
            needs=accommodation,
            person=person,
        )
        part = raise_request(
            state, "accommodation", ACCOMMODATION, accommodation_request, source, ctx, now
        )
        state = part.state
        parts.append(part)
    if support and "support" not in state.pathway.raised and ctx.pathway.raises(SUPPORT):
        support_request = SupportRequested(
            envelope=envelope_for(case_id, cause, "support", now),
            request_id=request_id_for(cause, "support"),
            support_types=tuple(support),
            departement=departement,
            person=person,
        )
        part = raise_request(state, "support", SUPPORT, support_request, source, ctx, now)
        state = part.state
        parts.append(part)
    return outcome_of(state, parts)


def permit_request(
    state: CaseState,
    cause: uuid.UUID,
    permit_type: PermitType,
    departement: str,
    legal_basis: str,
    person: Person,
    source: Agency,
    ctx: Context,
    now: datetime,
) -> Outcome:
    """Raise the permit request the person's recorded choice asks for (once per type)."""
    kind = f"permit:{permit_type.value}"
    if kind in state.pathway.raised:
        return Outcome(state=state)
    request = PermitRequested(
        envelope=envelope_for(state.case_id, cause, kind, now),
        request_id=request_id_for(cause, kind),
        permit_type=permit_type,
        departement=departement,
        legal_basis=legal_basis[:200],
        person=person,
    )
    return raise_request(state, kind, PERMIT, request, source, ctx, now)


def opened(
    state: CaseState, stage: str, languages: Sequence[str], ctx: Context, now: datetime
) -> Outcome:
    """A reasonable-grounds or positive decision opens the pathway: recorded, with the
    information on the reflection period due in the person's languages (R425-1)."""
    pathway = state.pathway
    update: dict[str, Any] = {"grounds_at": pathway.grounds_at or now}
    if stage == "IDENTIFIED":
        update["identified_at"] = now
    first = pathway.grounds_at is None
    state = state.model_copy(update={"pathway": pathway.model_copy(update=update)})
    notes: list[AuditNote] = []
    if first:
        notes.append(
            AuditNote(
                AuditAction.CASE_TRANSITION,
                "rights pathway opened",
                reason=f"{stage}; reflection-period information due in "
                + (", ".join(languages) if languages else "a language the person understands"),
                legal_basis="Dir. 2011/36 art. 11(2); Warsaw art. 10(2), 13(1); CESEDA R425-1",
            )
        )
    return Outcome(state=state, audit=tuple(notes))


def not_identified(state: CaseState, ctx: Context, now: datetime) -> Outcome:
    """A negative decision closes no assistance: the requests stay open and the notice
    period (hub policy) is recorded and tracked."""
    assisting = [r for r in state.requests if r.subject in (ACCOMMODATION, SUPPORT)]
    held = [h for h in state.holds if h.subject in (ACCOMMODATION, SUPPORT)]
    if not assisting and not held:
        return Outcome(state=state)
    ends = now + timedelta(days=ctx.pathway.negative_decision_notice_days)
    pathway = state.pathway.model_copy(update={"assistance_notice_ends": ends})
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "assistance continues after a negative decision",
        reason=f"{len(assisting) + len(held)} assistance request(s) kept open; notice period "
        f"until {ends.date().isoformat()}",
        legal_basis=ctx.pathway.negative_decision_notice_source[:200],
    )
    return Outcome(state=state.model_copy(update={"pathway": pathway}), audit=(note,))


def reflection_started(
    state: CaseState, request: OpenRequest, status: AckStatus, ctx: Context, now: datetime
) -> Outcome:
    """The prefecture's ACCEPTED on a reflection-period receipt request is the delivery of
    the récépissé: the 30 days start now (R425-2) and their end is a tracked deadline."""
    if request.subject != PERMIT or status is not AckStatus.ACCEPTED:
        return Outcome(state=state)
    permit = PermitRequested.model_validate_json(request.record_json)
    if permit.permit_type is not PermitType.REFLECTION_PERIOD_RECEIPT:
        return Outcome(state=state)
    if state.deadline_for(request.request_id, request.recipient, REFLECTION_PERIOD_END):
        return Outcome(state=state)
    ends = now + timedelta(days=ctx.pathway.reflection_period_days)
    state = state.model_copy(update={"reflection_ends": ends})
    notes = [
        AuditNote(
            AuditAction.CASE_TRANSITION,
            "recovery and reflection period started: récépissé delivered",
            reason=f"ends {ends.date().isoformat()}",
            legal_basis=ctx.pathway.reflection_period_source[:200],
            recipient=request.recipient,
        )
    ]
    deadline = _reflection_deadline(state, request, ctx, now)
    if deadline is None:
        return Outcome(state=state, audit=tuple(notes))
    return Outcome(state=state.with_deadline(deadline), audit=tuple(notes), opened=(deadline,))


def _reflection_deadline(
    state: CaseState, request: OpenRequest, ctx: Context, now: datetime
) -> OpenDeadline | None:
    """The reminders before the reflection period ends while the permit answer is pending."""
    prefecture = ctx.directory.get(request.recipient)
    if prefecture is None:
        return None
    return deadline_owed(
        state,
        prefecture,
        ctx,
        now,
        request_id=request.request_id,
        message_type=REFLECTION_PERIOD_END,
    )


def with_pathway(state: CaseState, **changes: Any) -> CaseState:
    """The state with its pathway changed."""
    pathway: Pathway = state.pathway.model_copy(update=changes)
    return state.model_copy(update={"pathway": pathway})
