"""What the hub remembers about one case, partitioned by case id like every other state.

The state is a value: the flow (``hub.case_flow``) takes a state and an event and returns a
new state with the decisions. Workers keep the states of the partitions they own and write
every new state to a compacted changelog, so a restarted or rebalanced worker rebuilds them.
"""

from __future__ import annotations

from dataclasses import dataclass
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
"""At most this many recent event ids per case for de-duplication (cases see far fewer);
entries older than the context's replay window are dropped before that (hub.case_flow)."""


class _Value(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """An event already handled: its id, where it was read, a digest of its bytes and the
    record's timestamp (None in states written before it was kept).

    A slotted dataclass, not a model: a case keeps one per event of the replay window, and a
    model instance costs ~1.4 KiB of memory where this costs a third of it (same JSON)."""

    event_id: UUID
    topic: str
    partition: int
    offset: int
    digest: str
    refused: bool = False
    at: datetime | None = None


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
    """What one agency (in one role) has received of the case: every category so far, and
    its latest message. One entry per agency, merged on each delivery (``merged``), so the
    state does not grow with the messages; withdrawal notices need only the categories."""

    recipient: str
    role: AgencyRole
    subject: str
    event_id: UUID
    categories: frozenset[DataCategory]
    at: datetime

    def merged(self, later: Received) -> Received:
        """This entry after ``later`` was delivered to the same agency."""
        return later.model_copy(update={"categories": self.categories | later.categories})


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

    def with_received(self, delivery: Received) -> CaseState:
        """The state after ``delivery``: merged into the agency's entry, or a new one."""
        key = (delivery.recipient, delivery.role)
        earlier = next((r for r in self.received if (r.recipient, r.role) == key), None)
        if earlier is None:
            return self.model_copy(update={"received": (*self.received, delivery)})
        kept = tuple(r for r in self.received if (r.recipient, r.role) != key)
        return self.model_copy(update={"received": (*kept, earlier.merged(delivery))})

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
