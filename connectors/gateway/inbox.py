"""Reading an agency's inbox over HTTP: an opaque cursor of per-partition offsets, long-polled.

The gateway keeps no read position for agencies: the cursor they send back says where they
are, so any gateway instance can answer and a lost answer is simply asked again (at-least-once;
clients drop repeated event ids). No cursor means the start of the inbox.

One consumer per agency (manually assigned, no consumer group) is kept and re-positioned from
the cursor on each read; its partitions are paused between reads so an idle agency costs the
broker nothing. Every record must carry the hub's signature for that inbox: the embedded broker
lets anyone write anywhere, so a record the hub did not sign is never served (it is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.io import clients
from connectors.gateway.broker_link import BROKER_ERRORS, BrokerLink, unavailable
from connectors.gateway.models import InboxItem
from connectors.gateway.problems import GatewayReason, ProblemError
from hub.contracts.codec import Codec, CodecError, frame_header
from hub.contracts.enums import DeadLetterReason
from hub.contracts.envelope import (
    Event,
)
from hub.contracts.events import (
    subject_of,
)
from hub.contracts.topics import inbox_topic
from hub.runtime.settings import HubSettings
from hub.trust.signing import SIGNATURE_HEADERS
from hub.trust.verification import HubPublicKey, SignatureError, verify_from_hub

log = structlog.get_logger(__name__)

CURSOR_VERSION = 1
MAX_CURSOR_CHARS = 4096
MAX_OFFSET = 2**63 - 1
"""Kafka offsets are signed 64-bit: a larger one crashed aiokafka's fetcher for good."""
MAX_PARTITION = 2**31 - 1
MIN_FETCH_WINDOW_S = 0.3
"""Even ``wait=0`` gives the broker this long to answer a fetch: nothing is known to be
there before a fetch comes back (the embedded broker's end offsets are not reliable)."""


@dataclass(frozen=True)
class Cursor:
    """Where an agency is in its inbox: the next offset to read, per partition."""

    agency: str
    offsets: dict[int, int] = field(default_factory=dict)

    def encode(self) -> str:
        """The opaque text form (base64url of a small JSON document)."""
        body = {
            "v": CURSOR_VERSION,
            "a": self.agency,
            "o": {str(p): o for p, o in sorted(self.offsets.items())},
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str, agency: str) -> Cursor:
        """Parse a cursor ``agency`` sent back; INVALID_CURSOR (400) if it is not one of its own."""
        invalid = _invalid("not a cursor this gateway issued")
        if len(text) > MAX_CURSOR_CHARS:
            raise invalid
        try:
            body = json.loads(urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            offsets = {int(p): int(o) for p, o in body["o"].items()}
            version, owner = body["v"], body["a"]
        except (Base64Error, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise invalid from None
        if version != CURSOR_VERSION or owner != agency:
            raise invalid
        if any(not (0 <= p <= MAX_PARTITION and 0 <= o <= MAX_OFFSET) for p, o in offsets.items()):
            raise _invalid(f"offsets are 0 to {MAX_OFFSET}, partitions 0 to {MAX_PARTITION}")
        return cls(agency, offsets)


def _invalid(detail: str) -> ProblemError:
    return ProblemError(GatewayReason.INVALID_CURSOR, detail)


def _fetcher_failed(consumer: AIOKafkaConsumer) -> bool:
    """Whether aiokafka's background fetch task has died: the consumer then returns nothing,
    forever, without raising (seen with an offset past 2**63 - 1)."""
    fetcher = getattr(consumer, "_fetcher", None)
    task = getattr(fetcher, "error_future", None)
    return isinstance(task, asyncio.Future) and task.done()


def inbox_item(record: Any, codec: Codec, hub_public_key: HubPublicKey) -> InboxItem:
    """One inbox record (an aiokafka ``ConsumerRecord``) as served over HTTP and webhooks.

    Raises ``SignatureError`` when the hub did not sign it for this inbox, ``CodecError`` when
    it is not a registered event: the embedded broker lets anyone write to any topic.
    """
    headers = list(record.headers or ())
    verify_from_hub(record.topic, record.key, record.value, headers, hub_public_key)
    event = codec.decode_event(record.value or b"")
    if not isinstance(event, Event):
        raise CodecError(
            DeadLetterReason.SEMANTIC_VIOLATION,
            f"{subject_of(type(event))} is not delivered to inboxes",
            frame_header(record.value),
        )
    envelope = event.envelope
    return InboxItem(
        event_id=envelope.event_id,
        case_id=envelope.case_id,
        subject=subject_of(type(event)),
        schema_id=frame_header(record.value),
        partition=record.partition,
        offset=record.offset,
        headers={
            name: value.decode("utf-8", "replace")
            for name, value in headers
            if name not in SIGNATURE_HEADERS and value is not None
        },
        event=event.model_dump(mode="json"),
    )


@dataclass
class _AgencyConsumer:
    consumer: AIOKafkaConsumer
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class InboxReader:
    """Reads agencies' inboxes from a cursor, verifying and decoding each record."""

    def __init__(
        self,
        settings: HubSettings,
        link: BrokerLink,
        codec: Codec,
        hub_public_key: HubPublicKey,
    ) -> None:
        self.settings = settings
        self.link = link
        self.codec = codec
        self.hub_public_key = hub_public_key
        self._consumers: dict[str, _AgencyConsumer] = {}
        self._creating = asyncio.Lock()

    async def read(
        self, agency: str, cursor: Cursor | None, *, limit: int, wait_s: float
    ) -> tuple[list[InboxItem], Cursor]:
        """Up to ``limit`` messages after ``cursor``, waiting up to ``wait_s`` for the first."""
        topic = inbox_topic(agency)
        cluster = await self.link.metadata()
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise unavailable(f"the inbox topic {topic} does not exist on the broker")
        unknown = sorted(set(cursor.offsets) - partitions) if cursor else []
        if unknown:
            raise _invalid(f"{topic} has no partition {unknown[0]}")
        offsets = {p: (cursor.offsets.get(p, 0) if cursor else 0) for p in sorted(partitions)}
        holder = await self._consumer(agency)
        items: list[InboxItem] = []
        async with holder.lock:
            consumer = holder.consumer
            assigned = [TopicPartition(topic, p) for p in offsets]
            try:
                consumer.assign(assigned)
                for tp in assigned:
                    consumer.resume(tp)
                    consumer.seek(tp, offsets[tp.partition])
                deadline = time.monotonic() + max(wait_s, MIN_FETCH_WINDOW_S)
                while not items:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    batch = await consumer.getmany(
                        *assigned,
                        timeout_ms=int(min(remaining, 1.0) * 1000),
                        max_records=limit,
                    )
                    for tp, records in batch.items():
                        for record in records:
                            offsets[tp.partition] = record.offset + 1
                            item = self._item(record)
                            if item is not None:
                                items.append(item)
            except BROKER_ERRORS as exc:
                raise unavailable(f"reading {topic} failed ({type(exc).__name__})") from None
            finally:
                with contextlib.suppress(Exception):
                    consumer.pause(*assigned)
            if _fetcher_failed(consumer):
                # Never leave an agency with a consumer that answers "nothing" forever: drop
                # it (the next read builds a new one) and say this read failed.
                await self._discard(agency, holder)
                raise unavailable(f"the reader of {topic} failed; it is rebuilt, retry")
        return items, Cursor(agency, offsets)

    async def _discard(self, agency: str, holder: _AgencyConsumer) -> None:
        if self._consumers.get(agency) is holder:
            del self._consumers[agency]
        log.warning("gateway.inbox_reader_rebuilt", agency=agency)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(holder.consumer.stop(), 5.0)

    def _item(self, record: Any) -> InboxItem | None:
        try:
            return inbox_item(record, self.codec, self.hub_public_key)
        except (SignatureError, CodecError) as exc:
            log.warning(
                "gateway.inbox_record_refused",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=exc.reason.value,
            )
            return None

    async def _consumer(self, agency: str) -> _AgencyConsumer:
        holder = self._consumers.get(agency)
        if holder is not None and not _fetcher_failed(holder.consumer):
            return holder
        async with self._creating:
            holder = self._consumers.get(agency)
            if holder is not None and _fetcher_failed(holder.consumer):
                await self._discard(agency, holder)
                holder = None
            if holder is None:
                consumer = clients.assigned_consumer(
                    self.settings, auto_offset_reset="earliest", fetch_max_wait_ms=200
                )
                try:
                    await asyncio.wait_for(
                        consumer.start(), self.link.gateway.publish_timeout_seconds
                    )
                except BROKER_ERRORS as exc:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                    raise unavailable(
                        f"cannot connect to the broker ({type(exc).__name__})"
                    ) from None
                holder = _AgencyConsumer(consumer)
                self._consumers[agency] = holder
        return holder

    async def close(self) -> None:
        """Stop every consumer (bounded)."""
        holders, self._consumers = list(self._consumers.values()), {}
        for holder in holders:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(holder.consumer.stop(), 5.0)
