"""What the hub remembers about one case, partitioned by case id like every other state.

The state is a value: the flow (``hub.case_flow``) takes a state and an event and returns a
new state with the decisions. Workers keep the states of the partitions they own and write
every new state to a compacted changelog, so a restarted or rebalanced worker rebuilds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from hub.audit_chain import ChainHead
from hub.consent import ConsentState
from hub.deadlines import OpenDeadline
from hub.event_types import AgencyRole, DataCategory, ExploitationType, Gender, SafeChannel, Urgency
from hub.lifecycle import CaseStatus

SEEN_WINDOW = 1024
"""How many recent event ids a case remembers for de-duplication (cases see far fewer)."""


class _Value(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )


class Seen(_Value):
    """An event already handled: its id, where it was read, and a digest of its bytes."""

    event_id: UUID
    topic: str
    partition: int
    offset: int
    digest: str
    refused: bool = False


class CaseFacts(_Value):
    """What routing needs to know about the case, learnt from its events."""

    departement: str | None = None
    exploitation_types: frozenset[ExploitationType] = frozenset()
    minor: bool = False
    urgency: Urgency = Urgency.UNKNOWN
    immediate_danger: bool = False
    gender: Gender | None = None


class Safety(_Value):
    """Safety flags: do-not-contact removes contact data; a safe channel restricts it."""

    do_not_contact: bool = False
    safe_channel: SafeChannel | None = None


class Received(_Value):
    """One delivery: which agency received which categories of which message, when."""

    recipient: str
    role: AgencyRole
    subject: str
    event_id: UUID
    categories: frozenset[DataCategory]
    at: datetime


class Held(_Value):
    """A message held until consent covers what its recipient requires."""

    event_id: UUID
    subject: str
    sender: str
    recipient: str
    role: AgencyRole
    missing: frozenset[DataCategory]
    held_at: datetime
    record_json: str
    needs_answer: bool = False
    attempt: int = 0
    declined: tuple[str, ...] = ()
    escalated: bool = False


class OpenRequest(_Value):
    """A request its current recipient has not finished with.

    It owes a business acknowledgement until ``accepted_at``; once accepted (the
    acknowledgement deadline is met) it stays open for the outcome — a permit's receipt, then
    its grant — until the recipient answers COMPLETED."""

    request_id: UUID
    subject: str
    requester: str
    recipient: str
    role: AgencyRole
    opened_at: datetime
    declined: tuple[str, ...] = ()
    record_json: str
    accepted_at: datetime | None = None


class CaseState(_Value):
    """Everything the hub keeps about one case."""

    case_id: UUID
    status: CaseStatus = CaseStatus.NEW
    reflection_ends: datetime | None = None
    facts: CaseFacts = CaseFacts()
    consent: ConsentState = ConsentState()
    safety: Safety = Safety()
    received: tuple[Received, ...] = ()
    holds: tuple[Held, ...] = ()
    requests: tuple[OpenRequest, ...] = ()
    seen: tuple[Seen, ...] = ()
    deadlines: tuple[dict[str, Any], ...] = ()
    audit_head: ChainHead | None = None

    def seen_event(self, event_id: UUID) -> Seen | None:
        """The earlier sighting of ``event_id``, if any."""
        for seen in self.seen:
            if seen.event_id == event_id:
                return seen
        return None

    def open_deadlines(self) -> list[OpenDeadline]:
        """The case's open deadlines."""
        return [OpenDeadline.from_dict(d) for d in self.deadlines]

    def deadline_for(
        self, request_id: UUID, recipient: str, message_type: str | None = None
    ) -> OpenDeadline | None:
        """The open deadline of ``request_id`` at ``recipient`` (of ``message_type``)."""
        for deadline in self.open_deadlines():
            if (
                deadline.request_id == request_id
                and deadline.recipient_agency == recipient
                and message_type in (None, deadline.message_type)
            ):
                return deadline
        return None

    def with_deadline(self, deadline: OpenDeadline) -> CaseState:
        """The state with ``deadline`` added or replaced."""
        kept = [d for d in self.deadlines if d["deadline_id"] != str(deadline.deadline_id)]
        return self.model_copy(update={"deadlines": (*kept, deadline.to_dict())})

    def without_deadline(self, deadline_id: UUID) -> CaseState:
        """The state with ``deadline_id`` closed."""
        kept = tuple(d for d in self.deadlines if d["deadline_id"] != str(deadline_id))
        return self.model_copy(update={"deadlines": kept})

    def request(self, request_id: UUID, recipient: str | None = None) -> OpenRequest | None:
        """The open request with this id (sent to ``recipient``, when given), if any."""
        for request in self.requests:
            if request.request_id == request_id and recipient in (None, request.recipient):
                return request
        return None
