"""Turn a request body into a record ready for the agency's outbox, or refuse it with a reason.

The gateway refuses here what ingest would dead-letter for sure, so an HTTP client learns it at
once instead of never (it cannot read dead letters): a body that is not an event, a type
agencies may not publish, another sender named in the envelope, a role that may not send this
type, an indicator code outside the shared grid (``deploy/config/indicators.yaml``). What
depends on the case's state (replays, unknown requests) stays ingest's job: it is
still checked there, and the gateway's 202 means *written to the outbox*, not *routed*.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.gateway.models import AckRequest
from connectors.gateway.problems import GatewayReason, ProblemError
from hub.contracts.codec import Codec, CodecError, frame_header
from hub.contracts.enums import DeadLetterReason
from hub.contracts.envelope import (
    Envelope,
    Event,
)
from hub.contracts.events import (
    EVENT_MODELS,
    Acknowledgement,
    subject_of,
)
from hub.flow.answers import answer_problem
from hub.rules.directory import Agency
from hub.rules.indicators import IndicatorGrid, check_event
from hub.rules.routing import RoutingRules


@dataclass(frozen=True)
class OutboxRecord:
    """A validated event and its framed bytes, ready to sign and send."""

    subject: str
    event: Event
    value: bytes
    schema_id: int

    @property
    def case_id(self) -> uuid.UUID:
        """The case id: the record's key."""
        return self.event.envelope.case_id

    @property
    def event_id(self) -> uuid.UUID:
        """The event id the sender chose."""
        return self.event.envelope.event_id


REFERRAL_OPENED = "fr.nrm.ReferralOpened"


def _invalid_fields(subject: str, exc: ValidationError) -> str:
    return f"{subject}: {exc.error_count()} invalid field(s): " + "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:20]
    )


class EventIntake:
    """Validates what an authenticated agency publishes (JSON or Confluent-framed Avro)."""

    def __init__(self, codec: Codec, rules: RoutingRules, indicators: IndicatorGrid) -> None:
        self.codec = codec
        self.rules = rules
        self.indicators = indicators

    def from_json(self, body: bytes, sender: Agency) -> OutboxRecord:
        """``{"subject": ..., "event": {...}}`` → a record, validated by model and schema."""
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ProblemError(GatewayReason.MALFORMED_REQUEST, "body is not JSON") from None
        if not isinstance(parsed, dict) or set(parsed) != {"subject", "event"}:
            raise ProblemError(
                GatewayReason.MALFORMED_REQUEST,
                'body must be a JSON object {"subject": "fr.nrm.<Type>", "event": {...}}',
            )
        subject, fields = parsed["subject"], parsed["event"]
        if not isinstance(subject, str) or not isinstance(fields, dict):
            raise ProblemError(
                GatewayReason.MALFORMED_REQUEST, "subject must be a string and event an object"
            )
        model = self._event_model(subject)
        try:
            event = model.model_validate(fields)
        except ValidationError as exc:
            raise ProblemError(
                DeadLetterReason.SCHEMA_VIOLATION, _invalid_fields(subject, exc)
            ) from None
        return self.from_event(event, sender)

    def from_frame(self, body: bytes, sender: Agency) -> OutboxRecord:
        """A Confluent-framed Avro record → the same record, checked like ingest decodes it."""
        try:
            event = self.codec.decode_event(body)
        except CodecError as exc:
            raise ProblemError(exc.reason, exc.detail) from None
        subject = subject_of(type(event))
        self._event_model(subject)
        assert isinstance(event, Event)
        self._check_sender(subject, event, sender)
        return OutboxRecord(subject, event, body, frame_header(body))

    def from_event(self, event: BaseModel, sender: Agency) -> OutboxRecord:
        """A typed event → its framed record (schema and size checked by the codec)."""
        subject = subject_of(type(event))
        self._event_model(subject)
        assert isinstance(event, Event)
        try:
            value = self.codec.encode_event(event)
        except CodecError as exc:
            raise ProblemError(exc.reason, exc.detail) from None
        self._check_sender(subject, event, sender)
        return OutboxRecord(subject, event, value, self.codec.registry.latest(subject).schema_id)

    def _event_model(self, subject: str) -> type[Event]:
        model = EVENT_MODELS.get(subject)
        if model is None:
            raise ProblemError(
                DeadLetterReason.UNKNOWN_SCHEMA_ID, f"no event type has the subject {subject!r}"
            )
        if not issubclass(model, Event) or self.rules.for_type(subject) is None:
            raise ProblemError(
                DeadLetterReason.SEMANTIC_VIOLATION,
                f"agencies do not publish {subject}; only the hub emits it",
            )
        return model

    def _check_sender(self, subject: str, event: Event, sender: Agency) -> None:
        refusal = sender_refusal(subject, event.model_dump(), sender, self.rules)
        if refusal is not None:
            raise ProblemError(*refusal)
        if isinstance(event, Acknowledgement):
            problem = answer_problem(event.status, event.decline_reason)
            if problem is not None:
                raise ProblemError(DeadLetterReason.SCHEMA_VIOLATION, problem)
        codes = check_event(self.indicators, event)
        if codes is not None:
            raise ProblemError(codes.reason, f"{subject}: {codes.detail}")


def sender_refusal(
    subject: str, record: Mapping[str, Any], sender: Agency, rules: RoutingRules
) -> tuple[DeadLetterReason, str] | None:
    """What ``sender`` may not say in this event, as ingest would refuse it (None: nothing).

    The same checks, in the same order and with the same reasons, as the routing worker's
    sender check (``hub/flow/case_flow.py``, private there): another sender or role named in the
    envelope, a type agencies do not publish, a formal identification by a role that may not
    identify, a type the sender's role may not send.
    """
    envelope = record.get("envelope") or {}
    claimed, claimed_role = envelope.get("sender"), envelope.get("sender_role")
    if claimed is not None and claimed != sender.id:
        return (
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names sender {claimed!r} but {sender.id} is authenticated",
        )
    if claimed_role is not None and claimed_role != sender.role.value:
        return (
            DeadLetterReason.SPOOFED_SENDER,
            f"envelope names role {claimed_role} but {sender.id} is {sender.role.value}",
        )
    rule = rules.for_type(subject)
    if rule is None:
        return (
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"agencies do not publish {subject}; only the hub emits it",
        )
    identifying = rules.identifying_roles
    claims = subject == REFERRAL_OPENED or bool(record.get("claims_formal_identification"))
    if claims and sender.role not in identifying:
        return (
            DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
            f"{sender.id} ({sender.role.value}) may not formally identify a victim: only "
            + ", ".join(sorted(r.value for r in identifying))
            + " may",
        )
    if rule.senders is not None and sender.role not in rule.senders:
        return (
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"{sender.role.value} may not send {subject}",
        )
    return None


def acknowledgement(request: AckRequest, now: datetime | None = None) -> Acknowledgement:
    """The ``fr.nrm.Acknowledgement`` event an acknowledgement request stands for.

    A decline must say why (the hub re-routes on it); any other answer must not carry a
    decline reason. Both are SCHEMA_VIOLATION.
    """
    status = request.ack_status()
    problem = answer_problem(status, request.decline_reason)
    if problem is not None:
        raise ProblemError(DeadLetterReason.SCHEMA_VIOLATION, problem)
    return Acknowledgement(
        envelope=Envelope(
            event_id=request.event_id or uuid.uuid4(),
            case_id=request.case_id,
            occurred_at=now or datetime.now(UTC),
            correlation_id=request.correlation_id,
            causation_id=request.causation_id,
        ),
        request_id=request.request_id,
        status=status,
        decline_reason=request.decline_reason,
        detail=request.detail,
    )
