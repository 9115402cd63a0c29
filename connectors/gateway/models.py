"""What travels over the gateway's HTTP API: requests and answers, shared with the client.

Events themselves are the hub's event models (``hub/contracts/events.py``), as JSON; these models
only wrap them (which subject, where it landed, the inbox cursor).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.contracts.enums import AckStatus, DeclineReason

AVRO_MEDIA_TYPE = "application/vnd.nrm.avro"
"""A Confluent-framed Avro record as the request body: ``0x00 | schema id | Avro binary``."""

AckAnswer = Literal["ACCEPTED", "DECLINED", "NEEDS_INFORMATION", "COMPLETED"]
"""The business answers an agency may give (``AckStatus`` without ``UNKNOWN``)."""


class PublishRequest(BaseModel):
    """An event to publish, as JSON: its subject and its fields."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="The event's subject, e.g. fr.nrm.ReferralOpened.")
    event: dict[str, Any] = Field(
        description="The event's fields, as the subject's Avro schema and the hub's event "
        "model define them (docs/EVENTS.md, docs/asyncapi.json). The sender is the "
        "authenticated agency: envelope.sender and envelope.sender_role may be left out."
    )


class RecordPlace(BaseModel):
    """An event as the broker holds it: its ids, its subject and schema, and where it lies."""

    event_id: UUID
    case_id: UUID
    subject: str
    schema_id: int
    partition: int
    offset: int


class PublishReceipt(RecordPlace):
    """Where an event was written: the agency's outbox, keyed by its case id."""


class AckRequest(BaseModel):
    """A business acknowledgement of a request the agency received."""

    model_config = ConfigDict(extra="forbid")

    case_id: UUID
    request_id: UUID = Field(description="The request_id of the request being answered.")
    status: AckAnswer
    decline_reason: DeclineReason | None = Field(
        default=None, description="Required with DECLINED, refused otherwise."
    )
    detail: str | None = Field(default=None, max_length=2000)
    event_id: UUID | None = Field(
        default=None,
        description="Choose it to make retries safe (the hub handles an event id once); "
        "default: a new one.",
    )
    correlation_id: UUID | None = None
    causation_id: UUID | None = Field(
        default=None, description="The event id of the delivered request, if known."
    )

    def ack_status(self) -> AckStatus:
        """The Avro enum value of ``status``."""
        return AckStatus(self.status)


class InboxItem(RecordPlace):
    """One event delivered to the agency, verified as the hub's."""

    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Unsigned delivery headers, e.g. nrm-safe-channel (signature headers are "
        "checked by the gateway and not repeated).",
    )
    event: dict[str, Any]


class InboxPage(BaseModel):
    """Messages after a cursor, and the cursor to send next time."""

    agency: str
    messages: list[InboxItem]
    cursor: str = Field(description="Opaque: send it back as ?cursor= to read what follows.")


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "ready"]
    broker: str | None = None


class IndicatorEntry(BaseModel):
    """One code of the shared indicator grid, as an agency may send it."""

    code: str
    label_fr: str
    label_en: str
    forms: list[str] = Field(
        description="Forms of exploitation the indicator is specific to; empty: every form. "
        "On an event whose forms are all known and include none of them, the code is refused "
        "(422 INDICATOR_FORM_MISMATCH)."
    )
    source: str = Field(description="The published list the indicator comes from.")
    link: str


class IndicatorList(BaseModel):
    """The shared indicator grid: any other code is refused (422 UNKNOWN_INDICATOR)."""

    version: int
    effective: str
    indicators: list[IndicatorEntry]
