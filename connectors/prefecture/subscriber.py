"""The prefecture subscriber's two moves: pull permit requests in, push answers out.

``sync`` reads the prefecture's inbox with the signed agency client (hub signature checked,
each event id once, offsets committed) and queues every ``PermitRequested`` for one of the
prefecture's départements, and applies every ``ErasureNotice`` to the queue (an erased case's
names are wiped: ``WorkQueue.apply_notice``); anything else is counted and skipped.
``answer`` records a clerk's answer in the queue and publishes it as a signed
``fr.nrm.Acknowledgement`` on the prefecture's outbox; if publishing fails, the answer is taken
back out of the queue.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.client.dev import dev_client
from connectors.client.kafka_client import AgencyClient
from connectors.prefecture.queue import AckFields, Answer, WorkQueue
from hub.contracts.enums import AgencyRole
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.erasure_events import (
    ErasureNotice,
)
from hub.contracts.events import (
    Acknowledgement,
    PermitRequested,
)
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings

ClientFactory = Callable[[HubSettings, str], AgencyClient]


class SubscriberError(Exception):
    """The agency is not a prefecture of the directory."""


@dataclass(frozen=True)
class SyncResult:
    """What one sync did."""

    queued: int
    duplicates: int
    skipped: int
    erased: int = 0
    """Queued requests whose person's data an erasure notice wiped."""


def prefecture_departements(settings: HubSettings, agency_id: str) -> tuple[str, ...]:
    """The départements ``agency_id`` serves; raises when it is not a known prefecture."""
    agency = Directory.load(settings.config_dir).get(agency_id)
    if agency is None:
        raise SubscriberError(f"{agency_id} n'est pas dans l'annuaire")
    if agency.role is not AgencyRole.PREFECTURE:
        raise SubscriberError(f"{agency_id} est un {agency.role.value}, pas une PREFECTURE")
    return tuple(agency.departements)


async def sync(
    settings: HubSettings,
    agency_id: str,
    db: Path,
    *,
    wait_s: float = 10.0,
    idle_s: float = 1.0,
    client_factory: ClientFactory = dev_client,
) -> SyncResult:
    """Pull the inbox into the queue: waits at most ``wait_s`` in all, and stops early once
    something arrived and then nothing more for ``idle_s``."""
    departements = prefecture_departements(settings, agency_id)
    client = client_factory(settings, agency_id)
    queued = duplicates = skipped = erased = 0
    got_any = False
    deadline = time.monotonic() + wait_s
    await client.start()
    try:
        with WorkQueue(db) as queue:
            while (remaining := deadline - time.monotonic()) > 0:
                messages = await client.receive(expected=1000, timeout_s=min(idle_s, remaining))
                if not messages and got_any:
                    break
                got_any = got_any or bool(messages)
                for message in messages:
                    event = message.event
                    if isinstance(event, ErasureNotice):
                        erased += queue.apply_notice(
                            notice_id=event.envelope.event_id,
                            case_id=event.envelope.case_id,
                            outcome=event.outcome,
                            holds=tuple(event.holds),
                            now=datetime.now(UTC),
                        )
                        continue
                    if not isinstance(event, PermitRequested) or (
                        departements and event.departement not in departements
                    ):
                        skipped += 1
                        continue
                    added = queue.add(
                        request_id=event.request_id,
                        case_id=event.envelope.case_id,
                        event_id=event.envelope.event_id,
                        departement=event.departement,
                        permit_type=event.permit_type.value,
                        person_ref=event.person.person_ref,
                        now=datetime.now(UTC),
                        first_name=event.person.first_name,
                        last_name=event.person.last_name,
                    )
                    queued += added
                    duplicates += not added
    finally:
        await client.stop()
    return SyncResult(queued, duplicates, skipped, erased)


def acknowledgement(
    case_id: uuid.UUID, request_id: uuid.UUID, fields: AckFields, now: datetime
) -> Acknowledgement:
    """The Acknowledgement a clerk's answer becomes."""
    return Acknowledgement(
        envelope=Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=now),
        request_id=request_id,
        status=fields.status,
        detail=fields.detail,
    )


async def answer(
    settings: HubSettings,
    agency_id: str,
    db: Path,
    request_id: uuid.UUID,
    choice: Answer,
    *,
    client_factory: ClientFactory = dev_client,
) -> Acknowledgement:
    """Record the clerk's answer and publish it; raises ``QueueError`` for an unknown or
    already closed request (nothing is published then)."""
    prefecture_departements(settings, agency_id)
    now = datetime.now(UTC)
    with WorkQueue(db) as queue:
        item, fields = queue.answer(request_id, choice, now)
        event = acknowledgement(item.case_id, request_id, fields, now)
        client = client_factory(settings, agency_id)
        try:
            await client.start()
            try:
                await client.publish(event)
            finally:
                await client.stop()
        except BaseException:
            queue.reopen(request_id)
            raise
    return event
