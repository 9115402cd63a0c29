"""The gateway's connection to the broker: started lazily, probed, every wait bounded.

The gateway must keep answering while the broker is down: ``/healthz`` stays up, and anything
that needs the broker answers 503 ``BROKER_UNAVAILABLE`` within a bounded time, never 500 and
never a hang. So the producer is started on first use (a gateway may start before the broker),
each request first checks the broker answered recently (a metadata request, at most every
``healthy_for_seconds``), and each send waits at most ``publish_timeout_seconds``.

A record is acknowledged only into a topic the cluster lists: a broker restarted on memory
storage comes back without topics, and a send into a missing topic must not answer 202 (the
record could never be read back). The topic names come with each probe's metadata (so they are
at most ``healthy_for_seconds`` old), are fetched again when a topic is not among them, and a
topic still missing is 503 ``TOPIC_UNAVAILABLE``. The gateway never creates a topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from agents.io import clients
from connectors.gateway.config import GatewaySettings
from connectors.gateway.problems import GatewayReason, ProblemError
from hub.runtime.settings import HubSettings

log = structlog.get_logger(__name__)

BROKER_ERRORS = (KafkaError, OSError, TimeoutError, asyncio.TimeoutError)
"""What a Kafka client raises when the broker is unreachable or too slow."""


def unavailable(detail: str) -> ProblemError:
    """The 503 every broker failure becomes."""
    return ProblemError(GatewayReason.BROKER_UNAVAILABLE, detail, headers={"Retry-After": "5"})


class BrokerLink:
    """One producer shared by every request, and cluster metadata on demand."""

    def __init__(self, settings: HubSettings, gateway: GatewaySettings) -> None:
        self.settings = settings
        self.gateway = gateway
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._healthy_until = 0.0
        self._topics: frozenset[str] = frozenset()

    async def producer(self) -> AIOKafkaProducer:
        """The started producer; 503 when it cannot connect in time."""
        if self._producer is not None:
            return self._producer
        async with self._starting:
            if self._producer is None:
                timeout_ms = int(self.gateway.publish_timeout_seconds * 1000)
                producer = clients.producer(
                    self.settings, request_timeout_ms=timeout_ms, retry_backoff_ms=100
                )
                try:
                    await asyncio.wait_for(producer.start(), self.gateway.publish_timeout_seconds)
                except BROKER_ERRORS as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    log.warning("gateway.broker_unavailable", error=type(exc).__name__)
                    raise unavailable(
                        f"cannot connect to the broker ({type(exc).__name__})"
                    ) from None
                self._producer = producer
        return self._producer

    async def metadata(self) -> Any:
        """Fresh cluster metadata (aiokafka ``ClusterMetadata``); 503 if the broker is down."""
        producer = await self.producer()
        try:
            cluster = await asyncio.wait_for(
                producer.client.fetch_all_metadata(), self.gateway.probe_timeout_seconds
            )
        except BROKER_ERRORS as exc:
            self._healthy_until = 0.0
            log.warning("gateway.broker_unavailable", error=type(exc).__name__)
            raise unavailable("the broker does not answer") from None
        self._healthy_until = time.monotonic() + self.gateway.healthy_for_seconds
        self._topics = frozenset(cluster.topics())
        return cluster

    async def probe(self) -> None:
        """503 unless the broker answered within the last ``healthy_for_seconds``."""
        if time.monotonic() >= self._healthy_until or self._producer is None:
            await self.metadata()

    async def require_topic(self, topic: str) -> None:
        """503 ``TOPIC_UNAVAILABLE`` unless the cluster lists ``topic`` (refreshed on a miss)."""
        await self.probe()
        if topic in self._topics:
            return
        await self.metadata()
        if topic not in self._topics:
            log.warning("gateway.topic_missing", topic=topic)
            raise ProblemError(
                GatewayReason.TOPIC_UNAVAILABLE,
                f"the topic {topic} does not exist on the broker (an operator creates it)",
                headers={"Retry-After": "5"},
            )

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> RecordMetadata:
        """Send one record and wait for the broker's acknowledgement (bounded); 503 otherwise.

        After a 503 the record may still have been written (the wait ended, not the send): a
        client retries with the same event id and the hub's de-duplication drops the copy.
        """
        await self.require_topic(topic)
        producer = await self.producer()
        try:
            metadata: RecordMetadata = await asyncio.wait_for(
                producer.send_and_wait(topic, value, key=key, headers=list(headers)),
                self.gateway.publish_timeout_seconds,
            )
        except BROKER_ERRORS as exc:
            self._healthy_until = 0.0
            log.warning("gateway.publish_failed", topic=topic, error=type(exc).__name__)
            raise unavailable(
                f"the broker did not acknowledge the record ({type(exc).__name__})"
            ) from None
        return metadata

    async def close(self) -> None:
        """Stop the producer (bounded)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await asyncio.wait_for(producer.stop(), self.gateway.publish_timeout_seconds)
