"""Webhook delivery against the real embedded broker and a real HTTP server on loopback.

Each test has its own agency (its own inbox topic), writes hub-signed deliveries into it as
the routing worker would, and lets a deliverer push them to a scripted local server.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventually import eventually

from connectors.webhooks.config import RetryPolicy, WebhookTarget
from connectors.webhooks.deliverer import WebhookDeliverer
from connectors.webhooks.signature import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_webhook,
)
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    SupportRequested,
)
from hub.contracts.examples import example_events
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, TopicSpec, inbox_topic
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.signing import HubSigner
from hub.trust.verification import verify_from_hub

SECRET = b"test-webhook-secret-0123456789"
FAST = RetryPolicy(
    max_attempts=4, base_delay_seconds=0.05, max_delay_seconds=0.2, max_total_seconds=10
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedReceiver:
    """Answers each POST with the next status of ``script`` (the last one repeats)."""

    script: list[int]
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append(Received(headers, body))
            index = min(len(self.received), len(self.script)) - 1
            return self.script[index]


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: list[int]) -> tuple[ScriptedReceiver, str]:
        receiver = ScriptedReceiver(script)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver.answer(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return receiver, f"http://127.0.0.1:{server.server_address[1]}/nrm"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


async def new_inbox(settings: HubSettings) -> str:
    """A fresh agency id whose inbox topic exists (one partition: one order)."""
    agency = f"webhook-test-{uuid.uuid4().hex[:8]}"
    await create_topics(
        settings, [TopicSpec(name=inbox_topic(agency), partitions=1, purpose="test")]
    )
    return agency


async def deliver_into_inbox(
    settings: HubSettings, agency: str, *, signed: bool = True
) -> SupportRequested:
    """Write one delivery into ``agency``'s inbox as the hub does (signed by the hub)."""
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    event = next(e for _s, e in example_events(uuid.uuid4()) if isinstance(e, SupportRequested))
    topic, key = inbox_topic(agency), str(event.envelope.case_id).encode()
    value = codec.encode_event(event)
    hub = HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id)
    headers = hub.sign(topic, key, value) if signed else []
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    return event


def deliverer_for(
    settings: HubSettings, agency: str, url: str, policy: RetryPolicy = FAST
) -> WebhookDeliverer:
    return WebhookDeliverer(
        settings,
        agency,
        WebhookTarget(url=url, secret="env:UNUSED_IN_TESTS", retry=policy),
        SECRET,
        codec=Codec(SchemaRegistry.load(settings.schemas_dir)),
        hub_public_key=(settings.config_dir / "hub-public-key.txt").read_text().strip(),
        signer=HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id),
        rng=random.Random(7),
    )


async def settle(deliverer: WebhookDeliverer, expected: int, timeout_s: float = 20.0) -> int:
    """Run the deliverer until ``expected`` messages are settled (bounded)."""
    settled = 0

    async def run_once() -> bool:
        nonlocal settled
        settled += await deliverer.run_once(timeout_ms=200)
        assert settled >= expected, f"{settled} settled so far"
        return True

    await eventually(run_once, timeout_s=timeout_s, max_interval_s=0.2, what=f"{expected} settled")
    return settled


async def dead_letters_from(
    settings: HubSettings, topic: str, expected: int, timeout_s: float = 15.0
) -> list[tuple[DeadLetter, list[tuple[str, bytes]]]]:
    """Dead letters whose source is ``topic``, with their headers (bounded read)."""
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS.name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    found: list[tuple[DeadLetter, list[tuple[str, bytes]]]] = []
    strays: list[object] = []  # anything but a dead letter fails the test below, never retried

    async def read_more() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                letter = codec.decode_event(record.value)
                if not isinstance(letter, DeadLetter):
                    strays.append(letter)
                elif letter.source_topic == topic:
                    hub_key = (settings.config_dir / "hub-public-key.txt").read_text()
                    verify_from_hub(record.topic, record.key, record.value, record.headers, hub_key)
                    found.append((letter, list(record.headers)))
        assert strays or len(found) >= expected, f"{len(found)} so far"
        return True

    try:
        await eventually(
            read_more, timeout_s=timeout_s, max_interval_s=0.2, what=f"{expected} dead letters"
        )
    finally:
        await consumer.stop()
    assert strays == []
    return found


async def test_a_receiver_failing_twice_gets_the_message_once_signed_with_the_retries_recorded(
    hub_settings: HubSettings, receiver_factory: Any
) -> None:
    agency = await new_inbox(hub_settings)
    receiver, url = receiver_factory([503, 500, 200])
    event = await deliver_into_inbox(hub_settings, agency)

    deliverer = deliverer_for(hub_settings, agency, url)
    await deliverer.start()
    try:
        assert await settle(deliverer, 1) == 1
    finally:
        await deliverer.stop()

    assert deliverer.stats.delivered == 1
    assert deliverer.stats.retries == 2
    assert deliverer.stats.attempts[event.envelope.event_id] == 3
    assert deliverer.stats.failures == ["HTTP 503", "HTTP 500"]
    assert [r.headers[ATTEMPT_HEADER] for r in receiver.received] == ["1", "2", "3"]
    for attempt in receiver.received:  # every attempt is signed afresh and verifies
        verify_webhook(
            attempt.body,
            attempt.headers[TIMESTAMP_HEADER],
            attempt.headers[SIGNATURE_HEADER],
            SECRET,
        )
        assert attempt.headers[EVENT_ID_HEADER] == str(event.envelope.event_id)
    delivered = json.loads(receiver.received[-1].body)
    assert delivered["event_id"] == str(event.envelope.event_id)
    assert delivered["subject"] == "fr.nrm.SupportRequested"
    assert delivered["event"]["request_id"] == str(event.request_id)

    # The offset was committed on success: the group resumes after the message.
    reader = AIOKafkaConsumer(group_id=deliverer.group_id, **client_options(hub_settings))
    await reader.start()  # no subscription: it reads the group's offsets without joining
    try:
        committed = await reader.committed(TopicPartition(inbox_topic(agency), 0))
    finally:
        await reader.stop()
    assert committed == 1
    assert len(receiver.received) == 3


async def test_a_receiver_that_always_fails_ends_in_a_delivery_failed_dead_letter(
    hub_settings: HubSettings, receiver_factory: Any
) -> None:
    agency = await new_inbox(hub_settings)
    receiver, url = receiver_factory([500])
    forged = await deliver_into_inbox(hub_settings, agency, signed=False)
    event = await deliver_into_inbox(hub_settings, agency)

    with structlog.testing.capture_logs() as logs:
        deliverer = deliverer_for(hub_settings, agency, url)
        await deliverer.start()
        try:
            assert await settle(deliverer, 2) == 2
        finally:
            await deliverer.stop()

    assert deliverer.stats.delivered == 0
    assert deliverer.stats.dead_lettered == 1
    assert deliverer.stats.refused == 1  # the unsigned record is never POSTed
    assert deliverer.stats.attempts[event.envelope.event_id] == FAST.max_attempts
    assert len(receiver.received) == FAST.max_attempts
    assert all(
        r.headers[EVENT_ID_HEADER] == str(event.envelope.event_id) for r in receiver.received
    )
    alerts = [entry for entry in logs if entry["event"] == "webhook.failed"]
    assert len(alerts) == 1
    assert alerts[0]["reason"] == "DELIVERY_FAILED"
    assert alerts[0]["event_id"] == str(event.envelope.event_id)

    letters = await dead_letters_from(hub_settings, inbox_topic(agency), expected=2)
    by_reason = {letter.reason: letter for letter, _headers in letters}
    assert set(by_reason) == {DeadLetterReason.DELIVERY_FAILED, DeadLetterReason.BAD_SIGNATURE}
    failed = by_reason[DeadLetterReason.DELIVERY_FAILED]
    assert failed.event_id == event.envelope.event_id
    assert failed.case_id == event.envelope.case_id
    assert "HTTP 500" in failed.detail
    assert failed.source_offset == 1
    assert by_reason[DeadLetterReason.BAD_SIGNATURE].source_offset == 0
    assert forged.envelope.event_id != event.envelope.event_id
