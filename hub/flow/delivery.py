"""Sending one message to one agency: consent, projection, request and deadline.

Routing, the release of a held message and the re-routing of a declined request all send a
message the same way, here: ask the consent policy what the recipient may see; hold the
message if a required category is not covered; otherwise project it for the recipient, and
when the recipient owes an answer, open the request and its deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from hub.contracts.enums import AgencyRole, AuditAction, DataCategory, SafeChannel, Urgency
from hub.flow.case_state import CaseState, Held, OpenRequest, Received, Safety
from hub.flow.decisions import AuditNote, Context, Deliver, as_uuid
from hub.rules.consent import NO_PERSONAL_DATA as NO_DATA_BASIS
from hub.rules.consent import ConsentGap, Share, Situation, decide_sharing
from hub.rules.deadlines.open_deadline import OpenDeadline, Supervisor, open_deadline
from hub.rules.deadlines.policy import NoDeadlineRule
from hub.rules.directory import Agency
from hub.rules.lawful_basis import lawful_bases
from hub.rules.projection import categories_present

DELIVERY_NAMESPACE = uuid.UUID("5b3c1f0e-8c0a-4f7e-9d61-6e726d687562")
SAFE_CHANNEL_HEADER = "nrm-safe-channel"
CHANNEL_ROLES: Mapping[SafeChannel, AgencyRole] = {
    SafeChannel.VIA_SUPPORT_ASSOCIATION: AgencyRole.SUPPORT_ASSOCIATION,
    SafeChannel.VIA_ACCOMMODATION_PROVIDER: AgencyRole.ACCOMMODATION_PROVIDER,
}
METROPOLITAN_DEFAULT = "75"
"""Whose working-day calendar a deadline uses when neither the case nor the recipient names a
département (a national agency on a case with no known département): metropolitan France."""
NO_PERSONAL_DATA = Share(allowed=frozenset(), basis=NO_DATA_BASIS)


@dataclass(frozen=True)
class Message:
    """A message to send: its subject, record (as decoded: what projections read), the event
    itself, the agency it comes from, and the request bookkeeping when the recipient owes an
    answer. The event is serialised only when the case state keeps it (held, or awaiting an
    answer)."""

    subject: str
    record: Mapping[str, Any]
    event: BaseModel
    source: Agency
    needs_answer: bool = False
    attempt: int = 0
    declined: tuple[str, ...] = ()

    @cached_property
    def event_id(self) -> uuid.UUID:
        """The message's own event id."""
        return as_uuid(self.record["envelope"]["event_id"])

    @cached_property
    def request_id(self) -> uuid.UUID:
        """The id an answer refers to: the request id, or the event id of a report."""
        return as_uuid(self.record.get("request_id") or self.event_id)


@dataclass(frozen=True)
class Sent:
    """What sending did: the new state, and at most one delivery with its notes."""

    state: CaseState
    deliveries: tuple[Deliver, ...] = ()
    notes: tuple[AuditNote, ...] = ()
    opened: tuple[OpenDeadline, ...] = ()


def situation_of(state: CaseState, reporter: Agency | None, ctx: Context) -> Situation:
    """What the consent exceptions look at: the case's facts and who reports the person."""
    role = reporter.role if reporter is not None else AgencyRole.UNKNOWN
    facts = state.facts
    return Situation(
        minor=facts.minor,
        immediate_danger=facts.immediate_danger or facts.urgency is Urgency.IMMEDIATE_DANGER,
        reporter_role=role,
        reporter_secrecy=ctx.directory.bound_by_secrecy(role),
    )


def share_for(
    state: CaseState,
    subject: str,
    agency: Agency,
    reporter: Agency | None,
    ctx: Context,
    now: datetime,
) -> Share | ConsentGap:
    """What ``agency`` may see of ``subject`` reported by ``reporter``, for this case, now."""
    return decide_sharing(
        ctx.consent,
        state.consent,
        message_type=subject,
        role=agency.role,
        situation=situation_of(state, reporter, ctx),
        now=now,
    )


def send(
    state: CaseState, message: Message, recipient: Agency, ctx: Context, now: datetime
) -> Sent:
    """Send ``message`` to ``recipient``: hold it, or deliver its projection (and open the
    request and its deadline when an answer is owed)."""
    decision = share_for(state, message.subject, recipient, message.source, ctx, now)
    if isinstance(decision, ConsentGap):
        held = Held(
            event_id=message.event_id,
            subject=message.subject,
            sender=message.source.id,
            recipient=recipient.id,
            role=recipient.role,
            missing=decision.missing,
            held_at=now,
            record_json=message.event.model_dump_json(),
            needs_answer=message.needs_answer,
            attempt=message.attempt,
            declined=message.declined,
        )
        note = AuditNote(
            AuditAction.HELD,
            "held until consent covers the required categories",
            reason="missing consent: " + ", ".join(sorted(c.value for c in decision.missing)),
            recipient=recipient.id,
            categories=decision.missing,
        )
        return Sent(state=state.model_copy(update={"holds": (*state.holds, held)}), notes=(note,))
    delivery = project_for(
        message.subject, message.record, message.source, recipient, decision, state.safety, ctx
    )
    # One copy of the state per delivery, with everything it changes.
    changes: dict[str, Any] = {"received": state.received_after(received(delivery, now))}
    notes: list[AuditNote] = [routed(delivery)]
    opened: list[OpenDeadline] = []
    if message.needs_answer:
        request = OpenRequest(
            request_id=message.request_id,
            subject=message.subject,
            requester=message.source.id,
            recipient=recipient.id,
            role=recipient.role,
            opened_at=now,
            declined=message.declined,
            record_json=message.event.model_dump_json(),
        )
        others = tuple(
            r
            for r in state.requests
            if (r.request_id, r.recipient) != (request.request_id, request.recipient)
        )
        changes["requests"] = (*others, request)
        deadline = _deadline(state, message, recipient, ctx, now)
        if deadline is not None:
            changes["deadlines"] = state.deadlines_with(deadline)
            opened.append(deadline)
            notes.append(
                AuditNote(
                    AuditAction.ROUTED,
                    "deadline opened",
                    reason=f"due {deadline.due_at.isoformat()}",
                    recipient=recipient.id,
                )
            )
    return Sent(
        state=state.model_copy(update=changes),
        deliveries=(delivery,),
        notes=tuple(notes),
        opened=tuple(opened),
    )


def _deadline(
    state: CaseState, message: Message, recipient: Agency, ctx: Context, now: datetime
) -> OpenDeadline | None:
    return deadline_owed(
        state,
        recipient,
        ctx,
        now,
        request_id=message.request_id,
        message_type=message.subject,
        attempt=message.attempt,
        declined_by=message.declined,
    )


def deadline_owed(
    state: CaseState,
    recipient: Agency,
    ctx: Context,
    now: datetime,
    *,
    request_id: uuid.UUID,
    message_type: str,
    minor: bool | None = None,
    attempt: int = 0,
    declined_by: Sequence[str] = (),
) -> OpenDeadline | None:
    """The deadline ``recipient`` owes for ``message_type`` from ``now``, escalated to its
    supervisor; ``None`` where the policy sets none. The case's département chooses the
    calendar, else the agency's first, else Paris's (a national agency serves none)."""
    supervisor_agency = ctx.directory.get(recipient.supervisor) if recipient.supervisor else None
    supervisor = (
        Supervisor(supervisor_agency.id, supervisor_agency.role) if supervisor_agency else None
    )
    departement = state.facts.departement or next(
        iter(recipient.departements), METROPOLITAN_DEFAULT
    )
    try:
        return open_deadline(
            case_id=state.case_id,
            request_id=request_id,
            recipient_agency=recipient.id,
            recipient_role=recipient.role,
            message_type=message_type,
            departement=departement,
            minor=state.facts.minor if minor is None else minor,
            urgency=state.facts.urgency,
            opened_at=now,
            policy=ctx.deadlines,
            attempt=attempt,
            declined_by=declined_by,
            supervisor=supervisor,
        )
    except NoDeadlineRule:
        return None


def project_for(
    subject: str,
    record: Mapping[str, Any],
    source: Agency,
    recipient: Agency,
    share: Share,
    safety: Safety,
    ctx: Context,
) -> Deliver:
    """The projection of ``record`` for ``recipient``, with the hub-set sender.

    Safety flags apply on top of consent: *do not contact* removes contact data; a safe
    channel removes it for every role but the channel's and says how to reach the person.
    """
    allowed = share.allowed
    headers: tuple[tuple[str, bytes], ...] = ()
    if safety.do_not_contact:
        allowed -= {DataCategory.CONTACT}
    if safety.safe_channel is not None:
        headers = ((SAFE_CHANNEL_HEADER, safety.safe_channel.value.encode()),)
        if CHANNEL_ROLES.get(safety.safe_channel) is not recipient.role:
            allowed -= {DataCategory.CONTACT}
    projected = ctx.projector.project(subject, record, allowed)
    envelope = dict(record["envelope"])
    original_id = as_uuid(envelope["event_id"])
    envelope.update(
        event_id=uuid.uuid5(DELIVERY_NAMESPACE, f"{original_id}/{recipient.id}"),
        causation_id=original_id,
        correlation_id=envelope.get("correlation_id") or envelope["case_id"],
        sender=source.id,
        sender_role=source.role.value,
    )
    projected["envelope"] = envelope
    present = categories_present(projected, ctx.projector.tree(subject))
    return Deliver(
        recipient=recipient,
        subject=subject,
        record=projected,
        categories=present,
        basis=share.basis,
        headers=headers,
        consented=present & share.consented,
        lawful_bases=lawful_bases(share, recipient.role, present, ctx.consent),
    )


def routed(delivery: Deliver) -> AuditNote:
    """The audit note of a delivery."""
    return AuditNote(
        AuditAction.ROUTED,
        f"delivered {delivery.subject}",
        legal_basis=delivery.basis,
        recipient=delivery.recipient.id,
        categories=delivery.categories,
        lawful_bases=delivery.lawful_bases,
    )


def received(delivery: Deliver, now: datetime) -> Received:
    """What the case remembers of a delivery (for withdrawal notices and reports)."""
    return Received(
        recipient=delivery.recipient.id,
        role=delivery.recipient.role,
        subject=delivery.subject,
        event_id=delivery.event_id,
        categories=delivery.categories,
        at=now,
        consented=delivery.consented,
    )


def notify(
    state: CaseState,
    subject: str,
    record: Mapping[str, Any],
    source: Agency,
    recipients: Sequence[Agency],
    ctx: Context,
) -> tuple[Deliver, ...]:
    """A message without personal data (an answer, an escalation) to each of ``recipients``."""
    return tuple(
        project_for(subject, record, source, agency, NO_PERSONAL_DATA, state.safety, ctx)
        for agency in recipients
    )
