"""What a deadline tick does to a case: reminders, escalations, orphaned needs.

The worker's time-ordered index tells which deadlines are due; for each, ``on_advance`` turns
the engine's ``Advance`` into deliveries (the reminder to the recipient, an escalation to the
supervisor, then to national coordination), records on the escalations and orphaned-needs
topics, audit notes, and the updated deadline in the case state. Event ids are derived from
the deadline and the step, so a step fired again after a crash is recognised downstream.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from hub.contracts.enums import AgencyRole, AuditAction, EscalationStep, NeedKind, OrphanReason
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Escalation,
)
from hub.contracts.events import OrphanedNeed as OrphanedNeedEvent
from hub.contracts.topics import ESCALATIONS, ORPHANED_NEEDS
from hub.flow.case_state import CaseState
from hub.flow.decisions import AuditNote, Context, Deliver, Outcome, Publish
from hub.flow.delivery import notify
from hub.rules.deadlines.ladder import Advance, Escalate, LadderStep, escalation_event
from hub.rules.deadlines.policy import NEED_OF
from hub.rules.directory import Agency

ORPHAN_NAMESPACE = uuid.UUID("7a5e3b1c-2d4f-4e6a-8b9c-6f7270686e64")
ESCALATION = "fr.nrm.Escalation"
ORPHANED_NEED = "fr.nrm.OrphanedNeed"
HUB_AGENCY = Agency(id="hub", name="NRM Hub", role=AgencyRole.HUB, national=True)


def on_advance(state: CaseState, advance: Advance, ctx: Context, now: datetime) -> Outcome:
    """The outcome of one deadline's due ladder steps."""
    state = state.with_deadline(advance.deadline)
    deliveries: list[Deliver] = []
    published: list[Publish] = []
    notes: list[AuditNote] = []
    for step in advance.steps:
        event = escalation_event(step, now).model_dump()
        targets = _targets(step, ctx)
        deliveries += notify(state, ESCALATION, event, HUB_AGENCY, targets, ctx)
        published.append(Publish(ESCALATIONS.name, ESCALATION, event))
        notes.append(
            AuditNote(
                AuditAction.ESCALATED,
                f"{step.step.value.lower()} for {step.message_type}",
                reason=f"late by {int(step.late_by.total_seconds())} s",
                recipient=",".join(a.id for a in targets) or step.step.value,
            )
        )
    if advance.orphaned is not None:
        orphan = advance.orphaned
        published.append(
            orphaned(
                state,
                orphan.message_type,
                orphan.request_id,
                orphan.reason,
                orphan.declined_by,
                orphan.deadline_id,
                now,
            )
        )
        notes.append(
            AuditNote(
                AuditAction.ESCALATED,
                "orphaned need raised to operators",
                reason=orphan.reason.value,
            )
        )
    return Outcome(
        state=state, deliveries=tuple(deliveries), audit=tuple(notes), published=tuple(published)
    )


def _targets(step: LadderStep, ctx: Context) -> list[Agency]:
    """Who a step goes to: the recipient, its supervisor, or national coordination."""
    if isinstance(step, Escalate) and step.target_agency is None:
        return [a for a in ctx.directory.by_role(step.target_role) if a.national]
    target_id = step.target_agency
    agency = ctx.directory.get(target_id) if target_id else None
    if agency is None and step.step is not EscalationStep.REMINDER:
        return [a for a in ctx.directory.by_role(AgencyRole.NATIONAL_COORDINATION) if a.national]
    return [agency] if agency is not None else []


def orphaned(
    state: CaseState,
    message_type: str,
    request_id: uuid.UUID,
    reason: OrphanReason,
    declined_by: tuple[str, ...],
    deadline_id: uuid.UUID | None,
    now: datetime,
    *,
    resolved: bool = False,
) -> Publish:
    """The orphaned-need record for operators (``resolved`` clears an earlier one)."""
    orphan_id = uuid.uuid5(
        ORPHAN_NAMESPACE, f"{request_id}/{deadline_id}/{reason.value}/{resolved}"
    )
    record: dict[str, Any] = OrphanedNeedEvent(
        envelope=Envelope(
            event_id=orphan_id,
            case_id=state.case_id,
            occurred_at=now,
            sender="hub",
            sender_role=AgencyRole.HUB,
        ),
        need=NEED_OF.get(message_type, NeedKind.UNKNOWN),
        reason=reason,
        request_id=request_id,
        message_type=message_type,
        departement=state.facts.departement or "",
        declined_by=declined_by,
        deadline_id=deadline_id,
        resolved=resolved,
    ).model_dump()
    return Publish(ORPHANED_NEEDS.name, ORPHANED_NEED, record)


HOLD_NAMESPACE = uuid.UUID("4b1d0c3e-5f6a-4b7c-8d9e-686f6c647321")


def expired_holds(state: CaseState, ctx: Context, now: datetime) -> Outcome | None:
    """Held messages that outlived the consent policy's time limit, escalated once each to
    national coordination (None when nothing expired).

    A hold is not dropped: it stays held until consent arrives or is withdrawn; national
    coordination is told someone must obtain consent or decide.
    """
    limit = timedelta(hours=ctx.consent.hold_timeout_hours)
    expired = [h for h in state.holds if not h.escalated and now - h.held_at >= limit]
    if not expired:
        return None
    targets = [a for a in ctx.directory.by_role(AgencyRole.NATIONAL_COORDINATION) if a.national]
    deliveries: list[Deliver] = []
    published: list[Publish] = []
    notes: list[AuditNote] = []
    for held in expired:
        event = Escalation(
            envelope=Envelope(
                event_id=uuid.uuid5(HOLD_NAMESPACE, f"{held.event_id}/{held.recipient}"),
                case_id=state.case_id,
                occurred_at=now,
                sender="hub",
                sender_role=AgencyRole.HUB,
            ),
            deadline_id=uuid.uuid5(HOLD_NAMESPACE, f"hold/{held.event_id}/{held.recipient}"),
            step=EscalationStep.NATIONAL_COORDINATION,
            late_by_seconds=int((now - held.held_at - limit).total_seconds()),
            target_role=AgencyRole.NATIONAL_COORDINATION,
        ).model_dump()
        deliveries += notify(state, ESCALATION, event, HUB_AGENCY, targets, ctx)
        published.append(Publish(ESCALATIONS.name, ESCALATION, event))
        notes.append(
            AuditNote(
                AuditAction.ESCALATED,
                f"consent hold of {held.subject} timed out",
                reason="missing consent: " + ", ".join(sorted(c.value for c in held.missing)),
                recipient=held.recipient,
            )
        )
    holds = tuple(
        h.model_copy(update={"escalated": True}) if h in expired else h for h in state.holds
    )
    return Outcome(
        state=state.model_copy(update={"holds": holds}),
        deliveries=tuple(deliveries),
        audit=tuple(notes),
        published=tuple(published),
    )
