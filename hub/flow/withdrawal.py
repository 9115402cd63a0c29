"""What a consent withdrawal does to a case: later sharing stops at once, held messages are
cancelled, the recipients that hold data on that consent are told to stop using it, and the
requests the withdrawal stops sharing are closed — with their deadlines — instead of being
chased (``hub.rules.deadlines.closure``).

A recipient that received data under a legal exception or duty (``exception:...`` in
``deploy/config/consent.yaml``: the prefecture's permit application, the police's
identification) holds it lawfully whatever consent says: it is sent no withdrawal notice, and
its requests stay open (docs/LAW.md, "Consent withdrawal").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.contracts.enums import AuditAction, DataCategory
from hub.contracts.events import ConsentWithdrawn
from hub.flow.case_state import CaseState, OpenRequest, Received
from hub.flow.closure import apply_closures
from hub.flow.decisions import AuditNote, Context, Deliver, Inbound, Outcome
from hub.flow.delivery import project_for, situation_of
from hub.rules.consent import ConsentGap, ConsentState, Share, Withdrawal, decide_sharing
from hub.rules.deadlines.answers import CloseReason
from hub.rules.deadlines.closure import on_sharing_stopped

CONSENT_WITHDRAWN = "fr.nrm.ConsentWithdrawn"


def notice_scope(
    received: Iterable[Received], withdrawal: Withdrawal
) -> dict[str, frozenset[DataCategory]]:
    """Who must be told to stop using what: per agency, the withdrawn categories it holds on
    the person's consent. An agency that holds them only under a legal exception is absent."""
    exposed: dict[str, set[DataCategory]] = {}
    for delivered in received:
        if delivered.role in withdrawal.roles:
            held = delivered.held_on_consent & withdrawal.categories
            if held:
                exposed.setdefault(delivered.recipient, set()).update(held)
    return {agency: frozenset(categories) for agency, categories in sorted(exposed.items())}


def stopped_requests(
    state: CaseState, consent: ConsentState, withdrawal: Withdrawal, ctx: Context, now: datetime
) -> tuple[OpenRequest, ...]:
    """The open requests the withdrawal stops: the recipient's role is withdrawn and the
    request could no longer be shared with it (consent no longer covers what it requires;
    a legal exception still does not need consent)."""
    return tuple(
        r
        for r in state.requests
        if r.role in withdrawal.roles
        and isinstance(
            decide_sharing(
                ctx.consent,
                consent,
                message_type=r.subject,
                role=r.role,
                situation=situation_of(state, ctx.directory.get(r.requester), ctx),
                now=now,
            ),
            ConsentGap,
        )
    )


def consent_withdrawn(
    state: CaseState, event: ConsentWithdrawn, inbound: Inbound, ctx: Context, now: datetime
) -> Outcome:
    """Stop all later sharing at once, cancel held messages, close the requests it stops,
    notify the recipients that hold the data on consent."""
    consent, withdrawal = state.consent.withdrawn(event)
    notes = [
        AuditNote(
            AuditAction.CONSENT_WITHDRAWN,
            "consent withdrawn",
            categories=withdrawal.categories,
            reason="roles: " + ", ".join(sorted(r.value for r in withdrawal.roles)),
        )
    ]
    notes += [
        AuditNote(
            AuditAction.CANCELLED,
            f"held {h.subject} cancelled by withdrawal",
            recipient=h.recipient,
        )
        for h in state.holds
    ]
    stopped = stopped_requests(state, consent, withdrawal, ctx, now)
    keys = {(r.request_id, r.recipient) for r in stopped}
    notes += [
        AuditNote(
            AuditAction.CANCELLED,
            f"{r.subject} request closed: consent withdrawn",
            reason=CloseReason.CONSENT_WITHDRAWN.value,
            recipient=r.recipient,
        )
        for r in stopped
    ]
    state = state.model_copy(
        update={
            "consent": consent,
            "holds": (),
            "requests": tuple(r for r in state.requests if (r.request_id, r.recipient) not in keys),
        }
    )
    done = apply_closures(state, on_sharing_stopped(state.open_deadlines(), keys, now), now)
    notices = _notices(done.state, event, inbound, ctx, notice_scope(state.received, withdrawal))
    deliveries = tuple(d for d, _ in notices)
    notes += done.notes
    notes += [
        AuditNote(
            AuditAction.ROUTED,
            "withdrawal notice: stop using these data",
            recipient=d.recipient.id,
            categories=categories,
        )
        for d, categories in notices
    ]
    return Outcome(
        state=done.state,
        deliveries=deliveries,
        audit=tuple(notes),
        published=done.published,
        closed=done.closed,
    )


def _notices(
    state: CaseState,
    event: ConsentWithdrawn,
    inbound: Inbound,
    ctx: Context,
    scope: dict[str, frozenset[DataCategory]],
) -> tuple[tuple[Deliver, frozenset[DataCategory]], ...]:
    deliveries = []
    for recipient_id, categories in scope.items():
        agency = ctx.directory.get(recipient_id)
        if agency is None:
            continue
        notice = event.model_copy(
            update={"categories": tuple(sorted(categories)), "recipient_roles": (agency.role,)}
        )
        delivery = project_for(
            CONSENT_WITHDRAWN,
            notice.model_dump(),
            inbound.sender,
            agency,
            Share(frozenset(), "withdrawal notice"),
            state.safety,
            ctx,
        )
        deliveries.append((delivery, categories))
    return tuple(deliveries)
