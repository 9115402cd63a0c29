"""What the routing consumer's fetches say about the broker, and where reading stands.

After each fetch the loop tells ``FetchWatch``; it tells the broker watch when a fetch was
answered and, once an outage is over, logs the positions routing resumes from. It also
reports the consumer lag the metrics export.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

from agents.io.broker_watch import BrokerWatch

POSITIONS_TIMEOUT_S = 1.0


class Fetching(Protocol):
    """What the watch asks a consumer about its assignment and its last fetches."""

    def assignment(self) -> set[TopicPartition]:
        """The assigned partitions."""
        ...

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        """When the last fetch of ``tp`` was answered (ms), if ever."""
        ...

    async def position(self, tp: TopicPartition) -> int:
        """The next offset to read from ``tp``."""
        ...


class FetchWatch:
    """Feeds the broker watch from the consumer's fetches."""

    def __init__(self, watch: BrokerWatch) -> None:
        self.watch = watch
        self._last_fetch_ms = 0

    async def fetched(self, consumer: Fetching) -> None:
        """Tell the broker watch when a fetch was answered; once the outage is over, say so
        with the positions routing resumes from (partitions never read from left out)."""
        stamps = [consumer.last_poll_timestamp(tp) for tp in consumer.assignment()]
        latest = max((s for s in stamps if s is not None), default=0)
        if latest > self._last_fetch_ms:
            self._last_fetch_ms = latest
            self.watch.answered(at=latest / 1000)
        if self.watch.recovered():
            resumes_at = await positions(consumer)
            self.watch.reconnected(resumes_at={tp: n for tp, n in resumes_at.items() if n})


async def positions(consumer: Fetching) -> dict[str, int]:
    """The next offset to read per assigned partition (``topic[partition]``); those not known
    within ``POSITIONS_TIMEOUT_S`` (being reset after a rebalance) are left out."""
    deadline = time.monotonic() + POSITIONS_TIMEOUT_S
    found: dict[str, int] = {}
    for tp in sorted(consumer.assignment()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            position = await asyncio.wait_for(consumer.position(tp), remaining)
        except (IllegalStateError, TimeoutError):
            continue
        found[f"{tp.topic}[{tp.partition}]"] = position
    return found


async def consumer_lag(consumer: AIOKafkaConsumer | None) -> dict[str, int]:
    """Records not yet read, per outbox partition (``topic[partition]``), from the last
    fetch's high watermark; empty before the first fetch."""
    if consumer is None:
        return {}
    lag: dict[str, int] = {}
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is not None:
            position = await consumer.position(tp)
            lag[f"{tp.topic}[{tp.partition}]"] = max(0, highwater - position)
    return lag
