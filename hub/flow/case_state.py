"""What the hub remembers about one case, partitioned by case id like every other state.

The state is a value: the flow (``hub.flow.case_flow``) takes a state and an event and returns a
new state with the decisions. Workers keep the states of the partitions they own and write
every new state to a compacted changelog, so a restarted or rebalanced worker rebuilds them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict

from hub.audit.chain import ChainHead
from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    ExploitationType,
    Gender,
    PermitType,
    RightsTopic,
    SafeChannel,
    Urgency,
)
from hub.rules.consent import ConsentState
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.lifecycle import CaseStatus

SEEN_WINDOW = 1024
"""At most this many recent event ids per case for de-duplication (cases see far fewer);
entries older than the context's replay window are dropped before that (hub.flow.case_flow)."""


class _Value(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied, unvalidated as pydantic's own (the flow copies
        states ~20 times a referral: ~1 µs here, ~2 µs through ``BaseModel.__copy__``'s three
        ``copy.copy`` calls). Unlike pydantic's, a name that is not a field is refused
        (``extra="forbid"``), never slipped into the copy unseen."""
        if deep:
            return super().model_copy(update=update, deep=True)
        cls = type(self)
        fields = self.__dict__.copy()
        fields_set = set(self.__pydantic_fields_set__)
        if update:
            names = _FIELD_NAMES.get(cls) or _field_names(cls)
            if not names.issuperset(update):
                unknown = ", ".join(sorted(set(update) - names))
                raise ValueError(f"{cls.__name__} has no field {unknown}")
            fields.update(update)
            fields_set.update(update)
        copied = object.__new__(cls)
        _set(copied, "__dict__", fields)
        _set(copied, "__pydantic_fields_set__", fields_set)
        _set(copied, "__pydantic_extra__", None)
        _set(copied, "__pydantic_private__", None)
        return copied


_set = object.__setattr__
_FIELD_NAMES: dict[type[BaseModel], frozenset[str]] = {}


def _field_names(cls: type[BaseModel]) -> frozenset[str]:
    names = _FIELD_NAMES[cls] = frozenset(cls.__pydantic_fields__)
    return names


@dataclass(frozen=True, slots=True)
class Seen:
    """An event already handled: its id, where it was read (the topic by its CRC-32), a
    digest of its bytes and the record's timestamp (None: kept before timestamps were)."""

    event_id: UUID
    topic_crc: int
    partition: int
    offset: int
    digest: str
    refused: bool = False
    at: datetime | None = None

    @classmethod
    def of(
        cls,
        event_id: UUID,
        topic: str,
        partition: int,
        offset: int,
        digest: str,
        *,
        refused: bool = False,
        at: datetime | None = None,
    ) -> Seen:
        """A sighting of ``event_id`` in ``topic``."""
        return cls(event_id, topic_crc(topic), partition, offset, digest, refused, at)

    def pack(self) -> bytes:
        """The fixed-size record of ``SeenLog``."""
        at_ms = _NO_TIME if self.at is None else int(self.at.timestamp() * 1000)
        digest = bytes.fromhex(self.digest)[:16].ljust(16, b"\0")
        return _SEEN.pack(
            self.event_id.bytes,
            digest,
            at_ms,
            self.topic_crc,
            self.partition,
            self.offset,
            self.refused,
        )

    @classmethod
    def unpack(cls, record: bytes) -> Seen:
        """A record of ``SeenLog`` as a value."""
        event_id, digest, at_ms, crc, partition, offset, refused = _SEEN.unpack(record)
        at = None if at_ms == _NO_TIME else datetime.fromtimestamp(at_ms / 1000, tz=UTC)
        return cls(UUID(bytes=event_id), crc, partition, offset, digest.hex(), refused, at)


_SEEN = struct.Struct(">16s16sqIiq?")
"""event id, digest (16 bytes), record timestamp (ms), topic CRC-32, partition, offset,
refused: 57 bytes a remembered event, where a model instance cost ~1.4 KiB of memory."""
_AT = struct.Struct(">q")
"""The record timestamp inside a packed ``Seen``, at byte 32."""
_NO_TIME = 2**63 - 1


def topic_crc(topic: str) -> int:
    """The CRC-32 a ``Seen`` keeps of its topic name."""
    return zlib.crc32(topic.encode())


def _seen_log(value: Any) -> Any:
    """The packed log from its JSON (base64), or from the list of objects older states kept."""
    if isinstance(value, list | tuple):
        return b"".join(_legacy_seen(item).pack() for item in value)
    return value


def _legacy_seen(item: Any) -> Seen:
    if isinstance(item, Seen):
        return item
    at = item.get("at")
    return Seen.of(
        UUID(str(item["event_id"])),
        item["topic"],
        int(item["partition"]),
        int(item["offset"]),
        item["digest"],
        refused=bool(item.get("refused", False)),
        at=datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else at,
    )


class CaseFacts(_Value):
    """What routing needs to know about the case, learnt from its events."""

    departement: str | None = None
    exploitation_types: frozenset[ExploitationType] = frozenset()
    minor: bool = False
    urgency: Urgency = Urgency.UNKNOWN
    immediate_danger: bool = False
    gender: Gender | None = None


class ParentsStep(_Value):
    """Whether a minor's parents were informed of the transmission to child protection
    (CASF L226-2-1): opened when child protection first receives the minor's data, closed by
    a ``ParentsInformation`` (informed, or not with an explicit reason)."""

    opened_at: datetime
    informed: bool | None = None
    """None while pending; True informed; False not informed (reason audited, encrypted)."""
    closed_by: str | None = None
    closed_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """True until someone says whether the parents were informed."""
        return self.informed is None


class Safety(_Value):
    """Safety flags: do-not-contact removes contact data; a safe channel restricts it."""

    do_not_contact: bool = False
    safe_channel: SafeChannel | None = None


class Received(_Value):
    """What one agency (in one role) has received of the case: every category so far, and
    its latest message. One entry per agency, merged on each delivery (``merged``), so the
    state does not grow with the messages; withdrawal notices need only the categories.

    ``consented``: the categories it received on the person's consent (a withdrawal notice
    concerns only these: data shared under a legal exception or duty stays lawfully held).
    None for an entry recorded before the hub kept this: all its categories count."""

    recipient: str
    role: AgencyRole
    subject: str
    event_id: UUID
    categories: frozenset[DataCategory]
    at: datetime
    consented: frozenset[DataCategory] | None = None

    @property
    def held_on_consent(self) -> frozenset[DataCategory]:
        """The categories this agency holds because the person consented."""
        return self.categories if self.consented is None else self.consented

    def merged(self, later: Received) -> Received:
        """This entry after ``later`` was delivered to the same agency."""
        return later.model_copy(
            update={
                "categories": self.categories | later.categories,
                "consented": self.held_on_consent | later.held_on_consent,
            }
        )


class Informed(_Value):
    """Rights information recorded in the case: its event id and the rights it covered."""

    event_id: UUID
    topics: frozenset[RightsTopic]


class Pathway(_Value):
    """Where the person is on the rights pathway (``hub.flow.pathway``): the decisions that
    opened it, the rights information recorded, what the person chose, what the hub raised.

    ``raised``: the requests the hub raised itself ("accommodation", "support",
    "permit:<type>"), so a later decision or choice never raises one twice.
    ``chosen_permits``: the residence documents the person's latest choice asks for; an
    agency's own ``PermitRequested`` passes only for one of them (CESEDA R425-2, « qui
    choisit »)."""

    grounds_at: datetime | None = None
    identified_at: datetime | None = None
    informed: tuple[Informed, ...] = ()
    choice_event_id: UUID | None = None
    chosen_permits: frozenset[PermitType] = frozenset()
    raised: frozenset[str] = frozenset()
    assistance_notice_ends: datetime | None = None

    @property
    def permit_declined(self) -> bool:
        """The person's latest choice asks for no residence document."""
        return self.choice_event_id is not None and not self.chosen_permits


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


class PendingErasure(_Value):
    """An erasure request waiting for a data-protection officer's approval (four eyes)."""

    request_id: UUID
    requested_by: str
    reason: str
    requested_at: datetime


class Restriction(_Value):
    """The case's processing is restricted (RGPD art. 18): stored, shared no further, while
    the named legal holds last."""

    request_id: UUID
    holds: tuple[str, ...]
    since: datetime


def _records(log: bytes) -> list[bytes]:
    size = _SEEN.size
    return [log[i : i + size] for i in range(0, len(log), size)]


class CaseState(_Value):
    """Everything the hub keeps about one case."""

    case_id: UUID
    status: CaseStatus = CaseStatus.NEW
    reflection_ends: datetime | None = None
    pathway: Pathway = Pathway()
    facts: CaseFacts = CaseFacts()
    consent: ConsentState = ConsentState()
    safety: Safety = Safety()
    parents: ParentsStep | None = None
    """The parents-informed step of a minor's case (None: not opened)."""
    received: tuple[Received, ...] = ()
    holds: tuple[Held, ...] = ()
    requests: tuple[OpenRequest, ...] = ()
    seen: Annotated[bytes, BeforeValidator(_seen_log)] = b""
    """The events handled recently, packed (``Seen.pack``), oldest first: see ``seen_events``,
    ``seen_event`` and ``with_seen``."""
    deadlines: tuple[dict[str, Any], ...] = ()
    audit_head: ChainHead | None = None
    erasure_requests: tuple[PendingErasure, ...] = ()
    restricted: Restriction | None = None
    last_contact_at: datetime | None = None
    """The last contact on the case: when the hub, on its own clock, accepted the latest event
    an agency sent about it (``hub.flow.expiry``: the retention schedule counts from it)."""
    erased_at: datetime | None = None
    """Set once the case is erased: the state then keeps only its id, its chain head (the
    worker goes on chaining entries after the ERASED one) and its recent event ids."""

    def received_after(self, delivery: Received) -> tuple[Received, ...]:
        """``received`` after ``delivery``: merged into the agency's entry, or a new one."""
        key = (delivery.recipient, delivery.role)
        earlier = next((r for r in self.received if (r.recipient, r.role) == key), None)
        if earlier is None:
            return (*self.received, delivery)
        kept = tuple(r for r in self.received if (r.recipient, r.role) != key)
        return (*kept, earlier.merged(delivery))

    def seen_events(self) -> list[Seen]:
        """Every remembered sighting, oldest first."""
        size = _SEEN.size
        return [Seen.unpack(self.seen[i : i + size]) for i in range(0, len(self.seen), size)]

    def seen_event(self, event_id: UUID) -> Seen | None:
        """The earlier sighting of ``event_id``, if any."""
        index = self._seen_index(event_id)
        return None if index < 0 else Seen.unpack(self.seen[index : index + _SEEN.size])

    def without_seen(self, event_id: UUID) -> CaseState:
        """The state with ``event_id`` forgotten."""
        index = self._seen_index(event_id)
        if index < 0:
            return self
        rest = self.seen[:index] + self.seen[index + _SEEN.size :]
        return self.model_copy(update={"seen": rest})

    def with_seen(self, seen: Seen, since: datetime | None, **changes: Any) -> CaseState:
        """The state remembering ``seen``, forgetting sightings recorded before ``since`` and
        all but the latest ``SEEN_WINDOW``, with ``changes`` made in the same copy."""
        kept = self.seen
        if since is not None:
            cut = int(since.timestamp() * 1000)
            kept = b"".join(
                record
                for record in _records(kept)
                if _AT.unpack_from(record, 32)[0] >= cut  # legacy entries: never cut
            )
        log = (kept + seen.pack())[-SEEN_WINDOW * _SEEN.size :]
        return self.model_copy(update={**changes, "seen": log})

    def _seen_index(self, event_id: UUID) -> int:
        wanted = event_id.bytes
        start = self.seen.find(wanted)
        while start >= 0:
            if start % _SEEN.size == 0:
                return start
            start = self.seen.find(wanted, start + 1)
        return -1

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
        return self.model_copy(update={"deadlines": self.deadlines_with(deadline)})

    def deadlines_with(self, deadline: OpenDeadline) -> tuple[dict[str, Any], ...]:
        """``deadlines`` with ``deadline`` added or replaced."""
        added = deadline.to_dict()
        wanted = added["deadline_id"]
        return (*(d for d in self.deadlines if d["deadline_id"] != wanted), added)

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
