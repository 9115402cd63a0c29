"""The parents-informed step of a minor's case (CASF L226-2-1).

"Sauf intérêt contraire de l'enfant, le père, la mère, toute autre personne exerçant
l'autorité parentale ou le tuteur sont préalablement informés de cette transmission": when
child protection first receives a minor's data through the hub, the case opens a step that
stays pending (visible, audited) until the reporter or child protection says the parents were
informed — or were not, with an explicit reason why informing them is contrary to the
child's interest (a missing or token reason is refused: SEMANTIC_VIOLATION). The reason
itself is personal data: it is kept only in the audit entry's encrypted payload.
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
from hub.flow.decisions import AuditNote, Deliver, Outcome, Refusal

LAW = "CASF L226-2-1"
CONTRARY_TO_CHILD_INTEREST = "CONTRARY_TO_CHILD_INTEREST"
NO_LEGAL_REPRESENTATIVE = "NO_LEGAL_REPRESENTATIVE"
AD_HOC_REQUEST = "fr.nrm.AdHocAdministratorRequested"
AD_HOC_NAMESPACE = uuid.UUID("ad0c0a0d-7065-4a50-9706-500000000000")
MIN_REASON_CHARS = 20
"""The shortest reason accepted for not informing the parents (hub policy: a word such as
"danger" is not a reason an auditor can review)."""


def open_step(
    state: CaseState, deliveries: Sequence[Deliver], now: datetime
) -> tuple[CaseState, tuple[AuditNote, ...]]:
    """Open the step when a minor's data first reaches child protection."""
    if state.parents is not None or not state.facts.minor:
        return state, ()
    if not any(
        d.recipient.role is AgencyRole.CHILD_PROTECTION and d.categories for d in deliveries
    ):
        return state, ()
    note = AuditNote(
        AuditAction.CASE_TRANSITION,
        "parents-informed step opened: the parents are to be informed of the transmission",
        legal_basis=LAW,
    )
    return state.model_copy(update={"parents": ParentsStep(opened_at=now)}), (note,)


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
    return Outcome(state=state.model_copy(update={"parents": closed}), audit=(note,))


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
