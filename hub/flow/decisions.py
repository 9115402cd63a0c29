"""The values the flow decides and the worker carries out: no I/O, no Kafka.

An ``Inbound`` is a trusted event read from an outbox; a ``Context`` is everything a decision
reads besides the case; an ``Outcome`` is what to do: the new case state, projections to
deliver, records to publish on the hub's own topics, audit notes, a refusal, and the
deadlines opened or closed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from hub.contracts.enums import AuditAction, DataCategory, DeadLetterReason, LawfulBasis
from hub.flow.case_state import CaseState
from hub.rules.consent import ConsentPolicy
from hub.rules.deadlines.open_deadline import OpenDeadline
from hub.rules.deadlines.policy import DeadlinePolicy
from hub.rules.directory import Agency, Directory
from hub.rules.holds import HoldPolicy
from hub.rules.lifecycle import Lifecycle, PathwayPolicy
from hub.rules.projection import Projector
from hub.rules.roles import OperatorRoster
from hub.rules.routing import RoutingRules


@dataclass(frozen=True)
class Inbound:
    """A decoded, validated record read from an agency's outbox."""

    subject: str
    record: Mapping[str, Any]
    event: BaseModel
    sender: Agency
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    digest: str
    frame: bytes = b""
    headers: tuple[tuple[str, bytes], ...] = ()
    redriven: bool = False

    @property
    def envelope(self) -> Mapping[str, Any]:
        """The event's envelope."""
        envelope: Mapping[str, Any] = self.record["envelope"]
        return envelope

    @cached_property
    def event_id(self) -> uuid.UUID:
        """The event id the sender chose (read once: the flow and the worker ask it often)."""
        return as_uuid(self.envelope["event_id"])


@dataclass(frozen=True)
class Context:
    """Everything a decision reads besides the case: directory, rules, policies, schemas."""

    directory: Directory
    rules: RoutingRules
    consent: ConsentPolicy
    projector: Projector
    deadlines: DeadlinePolicy
    lifecycle: Lifecycle
    pathway: PathwayPolicy
    operators: OperatorRoster = field(default_factory=OperatorRoster)
    """Operators' roles: who may approve an erasure (``hub.rules.roles``)."""
    holds: HoldPolicy = field(default_factory=HoldPolicy)
    """What stops an erasure (``hub.rules.holds``)."""
    retention_period: timedelta | None = None
    """How long after its last contact a case's personal data is kept (retention.yaml); None:
    this worker expires no case."""
    replay_window: timedelta | None = None
    """How long a case remembers an event id (``CaseState.seen``): the signature's past and
    future windows, beyond which a replayed copy is refused as STALE_SIGNATURE anyway. None
    (signatures not verified): only the count bound applies."""


@dataclass(frozen=True)
class Deliver:
    """A projection to write to one agency's inbox."""

    recipient: Agency
    subject: str
    record: dict[str, Any]
    categories: frozenset[DataCategory]
    basis: str
    headers: tuple[tuple[str, bytes], ...] = ()
    consented: frozenset[DataCategory] = frozenset()
    """The delivered categories that rest on the person's consent (withdrawal notices)."""
    lawful_bases: tuple[LawfulBasis, ...] = ()
    """What the disclosure rests on (``hub.rules.lawful_basis``), for its audit entry."""

    @cached_property
    def event_id(self) -> uuid.UUID:
        """The delivered record's own event id (derived, so redelivery keeps it)."""
        return as_uuid(self.record["envelope"]["event_id"])


@dataclass(frozen=True)
class Refusal:
    """Why an inbound record is a dead letter."""

    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True)
class AuditNote:
    """One thing that happened to the case, for the audit trail."""

    action: AuditAction
    decision: str
    reason: str | None = None
    legal_basis: str | None = None
    recipient: str | None = None
    categories: frozenset[DataCategory] = frozenset()
    payload: dict[str, dict[str, Any]] | None = None
    lawful_bases: tuple[LawfulBasis, ...] = ()
    actor: str | None = None
    """Who acted, when not the sender of the inbound event nor the hub (an operator)."""


@dataclass(frozen=True)
class Publish:
    """A record for one of the hub's own topics (escalations, orphaned needs)."""

    topic: str
    subject: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What to do about one inbound event or one deadline tick."""

    state: CaseState
    deliveries: tuple[Deliver, ...] = ()
    audit: tuple[AuditNote, ...] = ()
    refusal: Refusal | None = None
    duplicate: bool = False
    published: tuple[Publish, ...] = ()
    opened: tuple[OpenDeadline, ...] = ()
    closed: tuple[uuid.UUID, ...] = field(default_factory=tuple)
    destroy_key: bool = False
    """Erasure: destroy the case's key before anything of this outcome is written."""


def as_uuid(value: object) -> uuid.UUID:
    """``value`` as a UUID: itself when it is one already (decoded and dumped records hold
    UUIDs), else parsed from its text (ValueError when it is none)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def digest_of(frame: bytes) -> str:
    """A short digest of a record's bytes, to tell a redelivery from a reused event id."""
    return hashlib.sha256(frame).hexdigest()[:32]
