"""Carrying out deadline closures decided by their cause (``hub.rules.deadlines.closure``):
the deadline leaves the case state, the audit trail says why, and an orphaned need already
raised for it is cleared for the operators."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.contracts.enums import AuditAction, OrphanReason
from hub.flow.case_state import CaseState
from hub.flow.deadline_flow import orphaned
from hub.flow.decisions import AuditNote, Publish
from hub.rules.deadlines.answers import Closed, CloseReason

WHY: dict[CloseReason, str] = {
    CloseReason.PERMIT_DECIDED: "the permit was decided",
    CloseReason.CONSENT_WITHDRAWN: "consent withdrawn",
}


@dataclass(frozen=True)
class Closures:
    """The case after closing deadlines, with the audit notes, the orphaned needs cleared
    and the ids of the closed deadlines (for the worker's deadline index)."""

    state: CaseState
    notes: tuple[AuditNote, ...] = ()
    published: tuple[Publish, ...] = ()
    closed: tuple[uuid.UUID, ...] = ()


def apply_closures(state: CaseState, closures: Iterable[Closed], now: datetime) -> Closures:
    """Close each of ``closures`` in ``state``: one CANCELLED audit note naming the cause."""
    deadlines = {d.deadline_id: d for d in state.open_deadlines()}
    notes: list[AuditNote] = []
    published: list[Publish] = []
    closed: list[uuid.UUID] = []
    for closure in closures:
        deadline = deadlines.get(closure.deadline_id)
        if deadline is None:
            continue
        state = state.without_deadline(closure.deadline_id)
        closed.append(closure.deadline_id)
        notes.append(
            AuditNote(
                AuditAction.CANCELLED,
                f"{deadline.message_type} deadline closed: "
                + WHY.get(closure.reason, closure.reason.value.lower()),
                reason=closure.reason.value,
                recipient=closure.recipient_agency,
            )
        )
        if closure.resolved_orphan:
            published.append(
                orphaned(
                    state,
                    deadline.message_type,
                    deadline.request_id,
                    OrphanReason.PAST_LAST_STEP,
                    deadline.declined_by,
                    deadline.deadline_id,
                    now,
                    resolved=True,
                )
            )
    return Closures(state, tuple(notes), tuple(published), tuple(closed))
