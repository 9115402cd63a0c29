"""Push an agency's inbox to its webhook: signed, retried with backoff, dead-lettered at the end.

One deliverer per agency reads ``nrm.inbox.<agency>`` in its own consumer group
(``webhooks-<agency>``) and POSTs each message, in order, as the same JSON item the gateway's
inbox serves. A message is either delivered (2xx) or, once its attempts or its time are used
up, dead-lettered as ``DELIVERY_FAILED`` on ``nrm.deadletters`` with the ``webhook.failed``
alert for operators; only then is its offset committed. So a crash repeats a delivery at worst
(receivers drop repeated event ids), never skips one. A record in the inbox that the hub did not
sign, or that is not an event, is dead-lettered with its own reason and never delivered.

Order matters more than throughput here (an acknowledgement after its request), so a failing
receiver holds the following messages of its agency until the failing one is settled: at most
``max_total_seconds``.

Delivery (a 2xx) says the receiver's server took the message; it is **not** a business
acknowledgement. Requests still need an ``fr.nrm.Acknowledgement`` within their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from agents.io import clients
from agents.io.outbox_writer import OutboxWriter
from connectors.gateway.inbox import inbox_item
from connectors.webhooks.config import WebhooksFile, WebhookTarget
from connectors.webhooks.signature import ATTEMPT_HEADER, EVENT_ID_HEADER, webhook_headers
from hub.audit.key_stores import key_store_for
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import DeadLetterReason
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import inbox_topic
from hub.flow.dead_letters import (
    dead_letter,
)
from hub.flow.ingest import (
    RawRecord,
)
from hub.runtime.settings import HubSettings
from hub.trust.signing import HubSigner
from hub.trust.verification import HubPublicKey, SignatureError

log = structlog.get_logger(__name__)

USER_AGENT = "nrm-hub-webhooks/1"
SEEN_LIMIT = 10_000
POLL_TIMEOUT_MS = 500
BROKER_RETRY_S = 1.0


@dataclass
class DeliveryStats:
    """What a deliverer did, for tests, metrics and the operators' view."""

    delivered: int = 0
    retries: int = 0
    dead_lettered: int = 0
    refused: int = 0
    attempts: dict[UUID, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class _Stopped(Exception):
    """The deliverer was asked to stop during a backoff: leave the offset uncommitted."""


class WebhookDeliverer:
    """Delivers one agency's inbox to its webhook URL."""

    def __init__(
        self,
        settings: HubSettings,
        agency_id: str,
        target: WebhookTarget,
        secret: bytes,
        *,
        codec: Codec,
        hub_public_key: HubPublicKey,
        signer: HubSigner,
        group_id: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.agency_id = agency_id
        self.target = target
        self.secret = secret
        self.codec = codec
        self.hub_public_key = hub_public_key
        self.signer = signer
        self.topic = inbox_topic(agency_id)
        self.group_id = group_id or f"webhooks-{agency_id}"
        self.stats = DeliveryStats()
        self._rng = rng or random.SystemRandom()
        self._clock = clock
        self._stop = asyncio.Event()
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._writer: OutboxWriter | None = None
        self._http: httpx.AsyncClient | None = None
        self.log = log.bind(agency=agency_id, url=target.url)

    async def start(self) -> None:
        """Join the agency's webhook consumer group and connect the dead letter producer."""
        self._producer = clients.producer(self.settings)
        await self._producer.start()
        self._writer = OutboxWriter(
            self._producer, self.codec, key_store_for(self.settings), self.signer
        )
        self._consumer = clients.group_consumer(self.settings, self.topic, group_id=self.group_id)
        await self._consumer.start()
        self._http = httpx.AsyncClient(
            timeout=self.target.retry.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    @property
    def assigned(self) -> bool:
        """True once the group gave this deliverer its inbox partitions."""
        return self._consumer is not None and bool(self._consumer.assignment())

    async def stop(self) -> None:
        """Stop at the next step (a backoff is cut short) and disconnect."""
        self._stop.set()
        if self._http is not None:
            await self._http.aclose()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set."""
        watcher = asyncio.get_running_loop().create_task(self._forward(stop))
        try:
            while not self._stop.is_set():
                try:
                    await self.run_once()
                except (KafkaError, OSError, TimeoutError) as exc:
                    # The broker is away: the record was put back, try again in a moment.
                    self.log.warning("webhook.broker_error", error=type(exc).__name__)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), BROKER_RETRY_S)
        except _Stopped:
            pass
        finally:
            watcher.cancel()

    async def _forward(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()

    async def run_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> int:
        """Settle (deliver or dead-letter) the messages of one poll; return how many."""
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        settled = 0
        # Where each partition must resume if this batch is cut short: the first record not
        # settled and committed, so nothing after a failure is skipped.
        resume = {tp: records[0].offset for tp, records in batch.items() if records}
        try:
            for tp, records in batch.items():
                for record in records:
                    await self._settle(record)
                    await self._consumer.commit({tp: record.offset + 1})
                    resume[tp] = record.offset + 1
                    settled += 1
        except BaseException:
            for tp, offset in resume.items():
                self._consumer.seek(tp, offset)
            raise
        return settled

    async def _settle(self, record: Any) -> None:
        try:
            item = inbox_item(record, self.codec, self.hub_public_key)
        except (SignatureError, CodecError) as exc:
            self.stats.refused += 1
            self.log.warning("webhook.refused", offset=record.offset, reason=exc.reason.value)
            await self._dead_letter(record, exc.reason, f"not delivered: {exc.detail}", None)
            return
        if item.event_id in self._seen:  # a redelivery of a message already settled
            return
        body = json.dumps(item.model_dump(mode="json"), separators=(",", ":")).encode()
        error = await self._deliver(item.event_id, body)
        if error is not None:
            self.stats.dead_lettered += 1
            letter_id = await self._dead_letter(
                record, DeadLetterReason.DELIVERY_FAILED, error, item
            )
            # The operators' alert: the log event and the dead letter carry the same reason.
            self.log.error(
                "webhook.failed",
                reason=DeadLetterReason.DELIVERY_FAILED.value,
                event_id=str(item.event_id),
                case_id=str(item.case_id),
                attempts=self.stats.attempts[item.event_id],
                error=error,
                dead_letter_id=str(letter_id),
            )
        else:
            self.stats.delivered += 1
        self._seen[item.event_id] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    async def _deliver(self, event_id: UUID, body: bytes) -> str | None:
        """POST with retries; None once delivered, else the last error."""
        assert self._http is not None
        policy = self.target.retry
        started = self._clock()
        error = "no attempt"
        for attempt in range(1, policy.max_attempts + 1):
            self.stats.attempts[event_id] = attempt
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: str(event_id),
                ATTEMPT_HEADER: str(attempt),
                **webhook_headers(self.secret, body),
            }
            try:
                answer = await self._http.post(self.target.url, content=body, headers=headers)
                if 200 <= answer.status_code < 300:
                    self.log.info("webhook.delivered", event_id=str(event_id), attempt=attempt)
                    return None
                error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            self.stats.failures.append(error)
            if attempt == policy.max_attempts:
                break
            delay = policy.delay(attempt, self._rng)
            if self._clock() - started + delay > policy.max_total_seconds:
                error = f"{error} (gave up: {policy.max_total_seconds:g} s spent)"
                break
            self.stats.retries += 1
            self.log.warning(
                "webhook.retry", event_id=str(event_id), attempt=attempt, delay=delay, error=error
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                raise _Stopped
        return f"{error} after {self.stats.attempts[event_id]} attempt(s)"

    async def _dead_letter(
        self, record: Any, reason: DeadLetterReason, detail: str, item: Any
    ) -> UUID:
        """Write the dead letter (signed by the hub) and wait for the broker to take it."""
        assert self._writer is not None
        raw = RawRecord(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            timestamp_ms=record.timestamp,
            headers=[(n, v) for n, v in record.headers or () if v is not None],
        )
        letter = dead_letter(
            raw,
            reason,
            f"webhook {self.target.url}: {detail}",
            schema_id=item.schema_id if item is not None else None,
            case_id=item.case_id if item is not None else None,
            event_id=item.event_id if item is not None else None,
        )
        await (await self._writer.dead_letter(letter))
        return letter.dead_letter_id


async def run_webhooks(
    settings: HubSettings, stop: asyncio.Event, webhooks: WebhooksFile | None = None
) -> list[WebhookDeliverer]:
    """Run a deliverer for every agency of ``webhooks.yaml`` until ``stop`` is set."""
    config = webhooks or WebhooksFile.load(settings.config_dir)
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    hub_key = (settings.config_dir / "hub-public-key.txt").read_text().strip()
    signer = HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id)
    deliverers = [
        WebhookDeliverer(
            settings,
            agency,
            target,
            target.resolve_secret(settings.config_dir),
            codec=codec,
            hub_public_key=hub_key,
            signer=signer,
        )
        for agency, target in config.targets().items()
    ]
    for deliverer in deliverers:
        await deliverer.start()
    log.info("webhooks.started", agencies=[d.agency_id for d in deliverers])
    try:
        await asyncio.gather(*(deliverer.run(stop) for deliverer in deliverers))
    finally:
        for deliverer in deliverers:
            await deliverer.stop()
    return deliverers
