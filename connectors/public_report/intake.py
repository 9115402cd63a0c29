"""What the public page does with the hub: publish reports and additions as the public intake,
turn a reference into its case, and tell the reporter a minimal status.

A reference is 120 random bits the reporter keeps; the case id is ``HMAC(secret, reference)``
cut to a UUID, so the hub never stores a reference and a case id (seen by agencies) does not
give the reference back. A reference is known when the intake's own outbox holds a record keyed
by its case; the status comes from the triage body's answers in the intake's inbox (hub-signed
``Acknowledgement`` records, no personal data). The status is deliberately coarse: it never says
whether the police were told (someone posing as a witness could be the exploiter).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import structlog
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel

from agents.io import clients
from agents.io.reader import read_topics
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AckStatus
from hub.contracts.envelope import Envelope
from hub.contracts.events import Acknowledgement
from hub.contracts.topics import inbox_topic, outbox_topic
from hub.contracts.witness import WitnessReport, WitnessReportAddendum
from hub.runtime.settings import HubSettings
from hub.trust.signing import RecordSigner
from hub.trust.verification import SignatureError, verify_from_hub

log = structlog.get_logger(__name__)

REFERENCE_BYTES: Final = 15
"""120 random bits: 24 base32 characters, shown in groups of four."""
_REFERENCE: Final = re.compile(r"^[A-Z2-7]{24}$")


class Status(StrEnum):
    """What a reporter may know of their report."""

    RECEIVED = "RECEIVED"
    IN_REVIEW = "IN_REVIEW"
    MORE_INFORMATION = "MORE_INFORMATION"
    DONE = "DONE"


def new_reference() -> str:
    """A fresh reference, e.g. ``ABCD-EFGH-IJKL-MNOP-QRST-UVWX``."""
    raw = base64.b32encode(secrets.token_bytes(REFERENCE_BYTES)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalized(reference: str) -> str | None:
    """The reference without separators or case (None: cannot be one)."""
    compact = re.sub(r"[\s-]", "", reference).upper()
    return compact if _REFERENCE.match(compact) else None


def case_of(secret: bytes, reference: str) -> uuid.UUID | None:
    """The case a reference stands for (None: not a well-formed reference)."""
    compact = normalized(reference)
    if compact is None:
        return None
    digest = hmac.new(secret, b"reference|" + compact.encode(), hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def status_after(current: Status, answer: AckStatus) -> Status:
    """The status once the triage body answered ``answer``."""
    if answer is AckStatus.COMPLETED:
        return Status.DONE
    if answer is AckStatus.NEEDS_INFORMATION:
        return Status.MORE_INFORMATION
    if answer is AckStatus.ACCEPTED and current is not Status.DONE:
        return Status.IN_REVIEW
    return current


class Intake:
    """The page's link to the hub, as the public intake agency (a producer, no consumer
    group: the status is read on demand)."""

    def __init__(
        self,
        settings: HubSettings,
        agency_id: str,
        signer: RecordSigner,
        codec: Codec,
        hub_public_key: Ed25519PublicKey | str,
        secret: bytes,
        *,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.agency_id = agency_id
        self.signer = signer
        self.codec = codec
        self.hub_public_key = hub_public_key
        self._secret = secret
        self.publish_timeout_s = publish_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        """The started producer. It starts on the first report, not with the page: the page
        (and its "call 17 / 112" line) must be served while the broker is away, and a report
        then gets the page's 503, not a server that refused to start."""
        async with self._starting:
            if self._producer is None:
                timeout_ms = int(self.publish_timeout_s * 1000)
                producer = clients.producer(
                    self.settings, request_timeout_ms=timeout_ms, retry_backoff_ms=100
                )
                try:
                    await asyncio.wait_for(producer.start(), self.publish_timeout_s)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def report(self, report: WitnessReport) -> str:
        """Publish a report on a new case; returns the reporter's reference."""
        reference = new_reference()
        case_id = case_of(self._secret, reference)
        assert case_id is not None
        await self._publish(report.model_copy(update={"envelope": _envelope(case_id)}))
        log.info("public_report.published", case_id=str(case_id), kind="report")
        return reference

    async def add(self, case_id: uuid.UUID, text: str | None, contact: str | None) -> None:
        """Publish what the reporter adds to their case."""
        await self._publish(
            WitnessReportAddendum(
                envelope=_envelope(case_id), what_was_seen=text, reporter_contact=contact
            )
        )
        log.info("public_report.published", case_id=str(case_id), kind="addendum")

    async def _publish(self, event: BaseModel) -> None:
        """Sign and send to the intake's outbox, keyed by the case (as an agency client)."""
        producer = await self.producer()
        envelope = event.envelope  # type: ignore[attr-defined]
        topic, key = outbox_topic(self.agency_id), str(envelope.case_id).encode()
        value = self.codec.encode_event(event)
        headers = self.signer.sign(topic, key, value)
        send = producer.send_and_wait(topic, value, key=key, headers=headers)
        await asyncio.wait_for(send, self.publish_timeout_s)

    def case_of(self, reference: str) -> uuid.UUID | None:
        return case_of(self._secret, reference)

    async def status(self, case_id: uuid.UUID) -> Status | None:
        """The case's status, or None when this intake never published it."""
        records = await read_topics(
            self.settings, [outbox_topic(self.agency_id), inbox_topic(self.agency_id)]
        )
        key = str(case_id).encode()
        mine = [r for r in records if r.key == key]
        if not any(r.topic == outbox_topic(self.agency_id) for r in mine):
            return None
        status = Status.RECEIVED
        for record in sorted(mine, key=lambda r: r.timestamp):
            if record.topic != inbox_topic(self.agency_id):
                continue
            answer = self._answer(record.topic, record.key, record.value, list(record.headers))
            if answer is not None:
                status = status_after(status, answer)
        return status

    def _answer(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> AckStatus | None:
        """The triage body's answer in one inbox record (None: not a verified answer)."""
        try:
            verify_from_hub(topic, key, value, headers, self.hub_public_key)
            event = self.codec.decode_event(value or b"")
        except (SignatureError, CodecError) as exc:
            log.warning("public_report.inbox_record_refused", reason=exc.reason.value)
            return None
        return event.status if isinstance(event, Acknowledgement) else None


def _envelope(case_id: uuid.UUID) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=datetime.now(UTC))
