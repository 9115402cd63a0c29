"""An agency's client over Kafka: publish signed events, read the inbox once per event.

The caller never deals with framing, keys or signatures: ``publish`` encodes the event,
keys it by case id (so it lands on the case's partition), signs topic, key, value and time
with the agency's key, and sends it to the agency's own outbox. ``receive`` reads the inbox in
the agency's consumer group, verifies that each record was signed by the hub, and yields each
event id once even when the broker redelivers it (consumer restart before a commit) or the hub
wrote it twice (a worker crash): in memory, or across restarts with ``seen_path``
(``connectors/client/seen_events.py``).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, RecordMetadata
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel

from agents.io import clients
from agents.io.fetch_pacer import FetchPacer
from connectors.client.agency_protocol import AgencyEndpoint, InboxMessage
from connectors.gateway.models import AckAnswer
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AckStatus, DeclineReason
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    Acknowledgement,
)
from hub.contracts.topics import inbox_topic, outbox_topic
from hub.flow.answers import answer_problem
from hub.runtime.settings import HubSettings
from hub.trust.signing import RecordSigner
from hub.trust.verification import SignatureError, verify_from_hub

log = structlog.get_logger(__name__)


class AgencyClient(AgencyEndpoint[RecordMetadata]):
    """Publish to and read from the hub as one agency."""

    def __init__(
        self,
        settings: HubSettings,
        agency_id: str,
        signer: RecordSigner,
        codec: Codec,
        hub_public_key: Ed25519PublicKey | str | None,
        *,
        group_id: str | None = None,
        seen_path: Path | None = None,
    ) -> None:
        """``seen_path``: a sqlite file of the event ids already handed over, so a restarted
        client still drops what the broker redelivers (None: in memory, this run only)."""
        super().__init__(agency_id, seen_path)
        self.settings = settings
        self.signer = signer
        self.codec = codec
        self.hub_public_key = hub_public_key
        self.group_id = group_id or f"agency-{agency_id}"
        self._unreturned: list[InboxMessage] = []
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._pacer = FetchPacer(settings.fetch_max_wait_ms)
        self.rejected: list[str] = []

    async def start(self) -> None:
        """Connect the producer and the inbox consumer."""
        self._producer = clients.producer(self.settings)
        await self._producer.start()
        self._consumer = clients.group_consumer(
            self.settings, inbox_topic(self.agency_id), group_id=self.group_id
        )
        await self._consumer.start()

    async def stop(self) -> None:
        """Disconnect (without committing what was not committed)."""
        try:
            if self._consumer is not None:
                await self._consumer.stop()
            if self._producer is not None:
                await self._producer.stop()
        finally:
            self._seen.close()

    async def publish(self, event: BaseModel) -> RecordMetadata:
        """Sign and send ``event`` to this agency's outbox, keyed by its case id. An answer
        the hub would refuse (a decline without a reason, a reason on anything else) raises
        ``ValueError`` before anything is sent."""
        assert self._producer is not None
        if isinstance(event, Acknowledgement):
            problem = answer_problem(event.status, event.decline_reason)
            if problem is not None:
                raise ValueError(problem)
        topic = outbox_topic(self.agency_id)
        key = str(event.envelope.case_id).encode()  # type: ignore[attr-defined]
        value = self.codec.encode_event(event)
        headers = self.signer.sign(topic, key, value)
        return await self._producer.send_and_wait(topic, value, key=key, headers=headers)

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
    ) -> RecordMetadata:
        """Answer a request (ACCEPTED, DECLINED with a reason, NEEDS_INFORMATION, COMPLETED):
        an ``fr.nrm.Acknowledgement`` published like any event. An answer the hub would refuse
        (a decline without a reason, a reason on anything else) raises ``ValueError`` here."""
        envelope = Envelope(
            event_id=event_id or uuid.uuid4(),
            case_id=case_id,
            occurred_at=datetime.now(UTC),
            causation_id=causation_id,
        )
        return await self.publish(
            Acknowledgement(
                envelope=envelope,
                request_id=request_id,
                status=AckStatus(status),
                decline_reason=decline_reason,
                detail=detail,
            )
        )

    async def publish_raw(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> RecordMetadata:
        """Send bytes as they are to this agency's outbox (tests of bad input use it)."""
        assert self._producer is not None
        return await self._producer.send_and_wait(
            outbox_topic(self.agency_id), value, key=key, headers=headers or []
        )

    async def receive(
        self, expected: int = 1, timeout_s: float = 10.0, *, commit: bool = True
    ) -> list[InboxMessage]:
        """New inbox messages (each event id once), waiting up to ``timeout_s`` for
        ``expected`` of them.

        With ``commit`` (the default) what it returns counts as kept: the offsets are
        committed and the ids confirmed (``seen_path``). With ``commit=False`` the caller
        stores the messages, then calls ``commit()``; what it never committed comes back after
        a crash. Nothing read is lost to a failure: a broker error after messages were read
        returns them, and any other failure (a cancellation included) keeps them for the next
        call, which returns them first.
        """
        assert self._consumer is not None
        found, self._unreturned = self._unreturned, []
        fresh = {m.event_id for m in found}
        deadline = time.monotonic() + timeout_s
        try:
            while len(found) < expected and time.monotonic() < deadline:
                try:
                    batch = await self._consumer.getmany(timeout_ms=100)
                except KafkaError:
                    if found:  # what was read is returned; the error shows at the next call
                        break
                    raise
                for records in batch.values():
                    for record in records:
                        message = self._accept(record)
                        if message is None:
                            continue
                        if self._first_time(message, fresh):
                            found.append(message)
                await self._pacer.after_fetch(self._consumer, sum(map(len, batch.values())))
            self._seen.hold(fresh)
            if commit:
                await self._commit_offsets()
        except BaseException:
            self._unreturned = found  # read past, not returned: the next call returns them
            raise
        if commit:
            self._confirm_returned()
        return found

    async def commit(self) -> None:
        """Confirm every message returned so far (their ids become durable with
        ``seen_path``) and commit the inbox position past them."""
        assert self._consumer is not None
        self._seen.confirm()
        await self._consumer.commit()

    async def _commit_offsets(self) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit()
        except KafkaError as exc:
            # Returned all the same: the ids are held, so a redelivery is dropped this run.
            log.warning("client.commit_failed", agency=self.agency_id, error=str(exc))

    def _accept(self, record: ConsumerRecord[bytes, bytes]) -> InboxMessage | None:
        """The verified, decoded message, or None (counted in ``rejected``): a record this
        client cannot read must not stop it from reading the next."""
        where = f"{record.partition}@{record.offset}"
        try:
            headers = list(record.headers)
            if self.hub_public_key is not None:
                verify_from_hub(
                    record.topic, record.key, record.value, headers, self.hub_public_key
                )
            event = self.codec.decode_event(record.value or b"")
        except (SignatureError, CodecError) as exc:
            self.rejected.append(f"{where}: {exc.reason.value}")
            return None
        except Exception as exc:  # e.g. a malformed hub key: said, not fatal to the stream
            self.rejected.append(f"{where}: {type(exc).__name__}: {exc}")
            return None
        return InboxMessage(event, dict(headers), record.partition, record.offset)
