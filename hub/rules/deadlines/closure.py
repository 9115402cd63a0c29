"""Deadlines closed by their cause, not by an answer to them.

A deadline exists because something is awaited. When that something stops being awaited, the
deadline closes with the reason, instead of climbing its ladder to an orphaned need nobody
can act on:

- a permit's final answer (the prefecture's COMPLETED on the ``PermitRequested``) closes the
  reflection-period deadline of that request: it reminds the prefecture "while the permit
  answer is pending", and the answer has come (``on_final_answer``);
- a consent withdrawal that stops sharing a request with its recipient closes that
  recipient's deadlines for the request: the recipient has been told to stop using the data,
  so it cannot be chased to act on them (``on_sharing_stopped``).

Pure decisions: the flow (``hub.flow.answers``, ``hub.flow.case_flow``) applies them and
writes the audit entry naming the cause. See docs/DEADLINES.md, "What closes what".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from uuid import UUID

from hub.contracts.enums import AckStatus
from hub.rules.deadlines.answers import Closed, CloseReason, close
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.deadlines.policy import REFLECTION_PERIOD_END

PERMIT_REQUESTED = "fr.nrm.PermitRequested"
FINAL_STATUSES = frozenset({AckStatus.COMPLETED})
"""The answers after which a request is over (ACCEPTED is only the receipt)."""

WAITS_ON: dict[str, frozenset[str]] = {PERMIT_REQUESTED: frozenset({REFLECTION_PERIOD_END})}
"""For a request's message type, the other deadlines of the same request that wait on its
final answer (besides the request's own answer deadline, which ``on_ack`` closes)."""


def on_final_answer(
    deadlines: Iterable[OpenDeadline],
    *,
    request_id: UUID,
    subject: str,
    recipient: str,
    status: AckStatus,
    now: datetime,
) -> tuple[Closed, ...]:
    """The deadlines ``recipient``'s answer ``status`` to request ``request_id`` (of message
    type ``subject``) makes moot: for a final answer to a permit request, the
    reflection-period deadline of that request at that recipient (``PERMIT_DECIDED``)."""
    if AckStatus(status) not in FINAL_STATUSES:
        return ()
    waiting = WAITS_ON.get(subject, frozenset())
    return tuple(
        close(deadline, now, CloseReason.PERMIT_DECIDED)
        for deadline in deadlines
        if deadline.request_id == request_id
        and deadline.recipient_agency == recipient
        and deadline.message_type in waiting
    )


def on_sharing_stopped(
    deadlines: Iterable[OpenDeadline],
    stopped: Collection[tuple[UUID, str]],
    now: datetime,
) -> tuple[Closed, ...]:
    """The deadlines of the ``stopped`` (request id, recipient) pairs, closed because consent
    was withdrawn: the recipient may no longer use the data the request needs."""
    return tuple(
        close(deadline, now, CloseReason.CONSENT_WITHDRAWN)
        for deadline in deadlines
        if (deadline.request_id, deadline.recipient_agency) in stopped
    )
