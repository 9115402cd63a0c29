"""The envelope every event carries, and the base of the events that carry one.

Apart from ``hub.contracts.events`` so that the events of other contract modules
(``hub.contracts.erasure_events``) share it without an import loop; ``events`` re-exports both.
"""

from uuid import UUID

from hub.contracts.avro_record import AvroRecord
from hub.contracts.enums import AgencyRole, Int32, UtcMillis


class Envelope(AvroRecord):
    """Metadata common to every event: identity, case, time, causality, proven sender.

    ``sender`` and ``sender_role`` are set by the hub from the verified signature and the
    outbox topic; a sender leaves them ``None``.
    """

    event_id: UUID
    case_id: UUID
    occurred_at: UtcMillis
    schema_version: Int32 = 1
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    sender: str | None = None
    sender_role: AgencyRole | None = None


class Event(AvroRecord):
    """Base of the top-level events that carry an envelope (all but DeadLetter, AuditEntry)."""

    envelope: Envelope
