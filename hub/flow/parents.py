"""The parents-informed step of a minor's case (CASF L226-2-1).

"Sauf intérêt contraire de l'enfant, le père, la mère, toute autre personne exerçant
l'autorité parentale ou le tuteur sont préalablement informés de cette transmission": when
child protection first receives a minor's data through the hub, the case opens a step that
stays pending (visible, audited) until the reporter or child protection says the parents were
informed — or were not, with an explicit reason why informing them is contrary to the
child's interest (a missing or token reason is refused: SEMANTIC_VIOLATION). The reason
itself is personal data: it is kept only in the audit entry's encrypted payload.

A pending step is chased: its ``parents_informed`` deadline (hub policy: the text says
« préalablement » and sets no time) reminds child protection, then its supervisor, then
national coordination; the answer closes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from hub.contracts.enums import AgencyRole, AuditAction, DeadLetterReason
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    AdHocAdministratorRequested,
    ParentsInformation,
)
from hub.flow.case_state import CaseState, ParentsStep
from hub.flow.decisions import AuditNote, Context, Deliver, Outcome, Refusal
from hub.flow.delivery import deadline_owed
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.deadlines.policy import PARENTS_INFORMED
from hub.rules.directory import Agency

LAW = "CASF L226-2-1"
CONTRARY_TO_CHILD_INTEREST = "CONTRARY_TO_CHILD_INTEREST"
NO_LEGAL_REPRESENTATIVE = "NO_LEGAL_REPRESENTATIVE"
AD_HOC_REQUEST = "fr.nrm.AdHocAdministratorRequested"
AD_HOC_NAMESPACE = uuid.UUID("ad0c0a0d-7065-4a50-9706-500000000000")
PARENTS_NAMESPACE = uuid.UUID("9a7e0b1c-2d3f-4a5b-8c6d-706172656e74")
MIN_REASON_CHARS = 20
"""The shortest reason accepted for not informing the parents (hub policy: a word such as
"danger" is not a reason an auditor can review)."""


def open_step(
    state: CaseState, deliveries: Sequence[Deliver], ctx: Context, now: datetime
) -> tuple[CaseState, tuple[AuditNote, ...], tuple[OpenDeadline, ...]]:
    """Open the step when a minor's data first reaches child protection, with its
    ``parents_informed`` deadline at that child protection service (hub policy,
    deadlines.yaml): the ladder chases a step nobody closes."""
    if state.parents is not None or not state.facts.minor:
        return state, (), ()
    reached = [
        d.recipient
        for d in deliveries
        if d.recipient.role is AgencyRole.CHILD_PROTECTION and d.categories
    ]
    if not reached:
        return state, (), ()
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "parents-informed step opened: the parents are to be informed of the transmission",
        legal_basis=LAW,
    )
    state = state.model_copy(update={"parents": ParentsStep(opened_at=now)})
    deadline = _deadline(state, reached[0], ctx, now)
    if deadline is None:
        return state, (note,), ()
    return state.with_deadline(deadline), (note,), (deadline,)


def step_id(case_id: uuid.UUID) -> uuid.UUID:
    """The id the parents-informed step's deadline waits on (one step per case)."""
    return uuid.uuid5(PARENTS_NAMESPACE, f"{case_id}/parents-informed")


def _deadline(
    state: CaseState, child_protection: Agency, ctx: Context, now: datetime
) -> OpenDeadline | None:
    return deadline_owed(
        state,
        child_protection,
        ctx,
        now,
        request_id=step_id(state.case_id),
        message_type=PARENTS_INFORMED,
        minor=True,
    )


def parents_information(
    state: CaseState, event: ParentsInformation, sender: str, now: datetime
) -> Outcome:
    """Close the step (or record the answer where no step was opened yet); not informing
    the parents without an explicit reason is refused."""
    reason = (event.contrary_interest_reason or "").strip()
    needs_reason = not event.parents_informed and not event.no_legal_representative
    if needs_reason and len(reason) < MIN_REASON_CHARS:
        return Outcome(
            state=state,
            refusal=Refusal(
                DeadLetterReason.SEMANTIC_VIOLATION,
                "parents not informed without an explicit reason that informing them is "
                f"contrary to the child's interest (at least {MIN_REASON_CHARS} characters)",
            ),
        )
    step = state.parents or ParentsStep(opened_at=now)
    closed = step.model_copy(
        update={"informed": event.parents_informed, "closed_by": sender, "closed_at": now}
    )
    ended = tuple(
        d.deadline_id for d in state.open_deadlines() if d.message_type == PARENTS_INFORMED
    )
    for deadline_id in ended:
        state = state.without_deadline(deadline_id)
    if event.parents_informed:
        note = AuditNote(AuditAction.CASE_TRANSITION, "parents informed", legal_basis=LAW)
    elif event.no_legal_representative:
        note = AuditNote(
            AuditAction.CASE_TRANSITION,
            "parents not informed: nobody exercises parental authority in France",
            reason=NO_LEGAL_REPRESENTATIVE,
            legal_basis=LAW,
        )
    else:
        note = AuditNote(
            AuditAction.CASE_TRANSITION,
            "parents not informed: contrary to the child's interest (reason in the payload)",
            reason=CONTRARY_TO_CHILD_INTEREST,
            legal_basis=LAW,
        )
    return Outcome(state=state.model_copy(update={"parents": closed}), audit=(note,), closed=ended)


def ad_hoc_request(
    state: CaseState, event: ParentsInformation
) -> AdHocAdministratorRequested | None:
    """The request for an ad hoc administrator or a guardian, when the parents were not
    informed: either nobody represents the child in France (Dir. 2011/36 art. 14(2)), or
    informing them is contrary to the child's interest, so they do not fully protect it (CPP
    706-50). None when they were informed or the case has no département."""
    if event.parents_informed or state.facts.departement is None:
        return None
    base = event.envelope.event_id
    return AdHocAdministratorRequested(
        envelope=Envelope(
            event_id=uuid.uuid5(AD_HOC_NAMESPACE, f"{base}/event"),
            case_id=state.case_id,
            occurred_at=event.envelope.occurred_at,
            causation_id=base,
            correlation_id=state.case_id,
        ),
        request_id=uuid.uuid5(AD_HOC_NAMESPACE, f"{base}/request"),
        departement=state.facts.departement,
        unaccompanied=event.no_legal_representative,
    )
