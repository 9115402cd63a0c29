"""What an agency's client does, over Kafka or HTTP: one interface, and the part both share.

``AgencyClient`` (Kafka: it signs with the agency's key) and ``GatewayClient`` (HTTP: a bearer
token, the gateway signs) both derive from ``AgencyEndpoint``, so mypy checks they offer the
same calls: ``start``/``stop`` (or ``async with``), ``publish``, ``acknowledge``, ``receive``,
``commit``. What they share is the at-least-once bookkeeping of ``receive``: each event id is
handed over once (``seen_events.py``), a redelivery is counted, and what is returned is
confirmed at once or at ``commit()``. Each says what ``publish`` returns (``Receipt``): Kafka's
record metadata, or the gateway's receipt.

A refused record of the agency comes back as an ``fr.nrm.RefusalNotice`` in its inbox: both
clients return it like any message (``InboxMessage.refusal`` gives it typed), log it as a
warning and keep the last ones in ``refusals``, so an agency that only publishes still hears
that the hub refused what it sent.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Generic, Self, TypeVar

import structlog
from pydantic import BaseModel

from connectors.client.seen_events import SeenEvents
from connectors.gateway.models import AckAnswer
from hub.contracts.enums import AckStatus, DeclineReason
from hub.contracts.events import RefusalNotice

log = structlog.get_logger(__name__)
Receipt = TypeVar("Receipt")
REFUSALS_KEPT = 1000


@dataclass(frozen=True)
class InboxMessage:
    """One event delivered to the agency, with where it was read."""

    event: BaseModel
    headers: dict[str, bytes]
    partition: int
    offset: int

    @property
    def event_id(self) -> uuid.UUID:
        """The delivered event's id."""
        return uuid.UUID(str(self.event.envelope.event_id))  # type: ignore[attr-defined]

    @property
    def refusal(self) -> RefusalNotice | None:
        """The hub's notice that it refused one of this agency's records, if this is one."""
        return self.event if isinstance(self.event, RefusalNotice) else None


class AgencyEndpoint(ABC, Generic[Receipt]):
    """Publish to, read from and answer the hub as one agency."""

    def __init__(self, agency_id: str, seen_path: Path | None) -> None:
        """``seen_path``: a sqlite file of the event ids already handed over, so a restarted
        client still drops what is delivered again (None: in memory, this run only)."""
        self.agency_id = agency_id
        self.redelivered = 0
        self.refusals: deque[RefusalNotice] = deque(maxlen=REFUSALS_KEPT)
        """The last refusal notices received (the newest last)."""
        self._seen = SeenEvents(seen_path)

    @abstractmethod
    async def start(self) -> None:
        """Connect."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect (without confirming what was not committed)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @abstractmethod
    async def publish(self, event: BaseModel) -> Receipt:
        """Send ``event`` to this agency's outbox."""

    @abstractmethod
    async def acknowledge(
        self,
        case_id: uuid.UUID,
        request_id: uuid.UUID,
        status: AckStatus | AckAnswer,
        *,
        decline_reason: DeclineReason | None = None,
        detail: str | None = None,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> Receipt:
        """Answer a request (ACCEPTED, DECLINED with a reason, NEEDS_INFORMATION, COMPLETED)."""

    @abstractmethod
    async def receive(
        self, expected: int = 1, timeout_s: float = 10.0, *, commit: bool = True
    ) -> list[InboxMessage]:
        """New inbox messages (each event id once), waiting up to ``timeout_s`` for
        ``expected`` of them; with ``commit``, what is returned counts as kept."""

    @abstractmethod
    async def commit(self) -> None:
        """Confirm every message returned so far."""

    def _first_time(self, message: InboxMessage, fresh: set[uuid.UUID]) -> bool:
        """True when ``message`` was neither handed over before nor met in this read
        (``fresh``, to which its id is added); a repeat is counted in ``redelivered``. A
        refusal notice met for the first time is logged and kept in ``refusals``."""
        event_id = message.event_id
        if event_id in fresh or self._seen.seen(event_id):
            self.redelivered += 1
            return False
        fresh.add(event_id)
        notice = message.refusal
        if notice is not None:
            self.refusals.append(notice)
            log.warning(
                "client.refused_by_hub",
                agency=self.agency_id,
                reason=notice.reason.value,
                refused_event_id=str(notice.refused_event_id),
                dead_letter_id=str(notice.dead_letter_id),
                authenticated=notice.authenticated,
                unnotified_before=notice.unnotified_before,
            )
        return True

    def _confirm_returned(self) -> None:
        """Confirm what ``receive`` returns (its ids become durable with ``seen_path``); a
        failure to write them is logged, and they stay held for the next confirmation."""
        if error := self._seen.confirm_or_keep():
            log.warning("client.seen_not_written", agency=self.agency_id, error=error)
