"""Routing one message of a case to the recipients its rule names.

Used for inbound events and for the requests the hub raises itself when a victim is
identified: select the agencies of each recipient role, send each its projection (or hold it
until consent covers it), open requests and deadlines, and raise an orphaned need when a
request has nobody to go to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hub.contracts.enums import (
    AuditAction,
    DeadLetterReason,
    ExploitationType,
    Gender,
    OrphanReason,
    Urgency,
)
from hub.contracts.events import PresumedVictimReport
from hub.flow.case_state import CaseFacts, CaseState
from hub.flow.deadline_flow import orphaned
from hub.flow.decisions import AuditNote, Context, Deliver, Outcome, Publish, Refusal
from hub.flow.delivery import Message, send
from hub.flow.parents import open_step
from hub.flow.prosecutor_notice import NOTICE, REPORT, notice_for, officials_reached
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.directory import Agency
from hub.rules.routing import RouteFacts, Selection, called_for, candidates, facts_of


def route(
    state: CaseState,
    subject: str,
    record: Mapping[str, Any],
    event: BaseModel,
    source: Agency,
    ctx: Context,
    now: datetime,
) -> Outcome:
    """Send ``event`` (``record``: as decoded) of ``subject`` from ``source`` to every
    recipient its rule names."""
    rule = ctx.rules.for_type(subject)
    assert rule is not None
    facts = facts_of(record, route_facts(state.facts))
    state = state.model_copy(update={"facts": case_facts(facts)})
    deliveries: list[Deliver] = []
    notes: list[AuditNote] = []
    published: list[Publish] = []
    opened: list[OpenDeadline] = []
    reached = 0
    for recipient_rule in rule.recipients:
        chosen = candidates(recipient_rule, facts, ctx.directory, ctx.rules)
        every = recipient_rule.select is Selection.ALL_IN_DEPARTEMENT
        targets = chosen if every else chosen[:1]
        message = Message(
            subject=subject,
            record=record,
            event=event,
            source=source,
            needs_answer=recipient_rule.needs_answer,
        )
        if not targets and called_for(recipient_rule, facts, ctx.rules):
            notes.append(
                AuditNote(
                    AuditAction.REFUSED,
                    "no eligible agency",
                    reason=DeadLetterReason.NO_ELIGIBLE_RECIPIENT.value,
                    recipient=recipient_rule.role.value,
                )
            )
            if recipient_rule.needs_answer:
                published.append(
                    orphaned(
                        state,
                        subject,
                        message.request_id,
                        OrphanReason.NO_ELIGIBLE_AGENCY,
                        (),
                        None,
                        now,
                    )
                )
        for agency in targets:
            sent = send(state, message, agency, ctx, now)
            state = sent.state
            deliveries += sent.deliveries
            notes += sent.notes
            opened += sent.opened
            reached += 1
    officials = (
        officials_reached(rule, deliveries) if isinstance(event, PresumedVictimReport) else []
    )
    if officials:
        assert isinstance(event, PresumedVictimReport)
        notice = notice_for(event, record, officials)
        noticed = route(state, NOTICE, notice.model_dump(), notice, officials[0], ctx, now)
        if noticed.refusal is not None:
            notes.append(
                AuditNote(
                    AuditAction.REFUSED,
                    "no parquet to notify (CPP art. 40)",
                    reason=noticed.refusal.reason.value,
                )
            )
        else:
            state = noticed.state
            deliveries += noticed.deliveries
            notes += noticed.audit
    state, parents_notes, parents_deadlines = open_step(state, deliveries, ctx, now)
    notes += parents_notes
    opened += parents_deadlines
    if not reached and not published:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.NO_ELIGIBLE_RECIPIENT,
                f"no agency in the directory can receive {subject} for département "
                f"{facts.departement}",
            ),
        )
    return Outcome(
        state=state,
        deliveries=tuple(deliveries),
        audit=tuple(notes),
        published=tuple(published),
        opened=tuple(opened),
    )


def notice_once(
    state: CaseState,
    report: PresumedVictimReport,
    deliveries: Sequence[Deliver],
    ctx: Context,
    now: datetime,
) -> Outcome | None:
    """The avis au procureur (CPP art. 40 al. 2) for the public officials a report reached
    later than its own routing (released from a hold, transferred to them): raised once per
    case, None when no official was reached or the parquet was already told."""
    rule = ctx.rules.for_type(REPORT)
    if rule is None or any(r.subject == NOTICE for r in state.received):
        return None
    officials = officials_reached(rule, [d for d in deliveries if d.subject == REPORT])
    if not officials:
        return None
    notice = notice_for(report, report.model_dump(), officials)
    noticed = route(state, NOTICE, notice.model_dump(), notice, officials[0], ctx, now)
    return None if noticed.refusal is not None else noticed


def route_facts(facts: CaseFacts) -> RouteFacts:
    """What selection knows of the case so far."""
    return RouteFacts(
        departement=facts.departement,
        exploitation_types=facts.exploitation_types,
        minor=facts.minor,
        urgency=facts.urgency,
        immediate_danger=facts.immediate_danger,
        gender=facts.gender,
    )


def case_facts(facts: RouteFacts) -> CaseFacts:
    """The facts the case keeps for later routing."""
    return CaseFacts(
        departement=facts.departement,
        exploitation_types=frozenset(ExploitationType(t) for t in facts.exploitation_types),
        minor=facts.minor,
        urgency=Urgency(facts.urgency),
        immediate_danger=facts.immediate_danger,
        gender=Gender(facts.gender) if facts.gender else None,
    )
