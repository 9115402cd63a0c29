"""Raises a consumer's fetch wait when its fetches come back empty while records wait.

The embedded broker answers a fetch with what its storage has read when ``fetch_max_wait_ms``
runs out. On memory storage a read takes microseconds and 50 ms is the right wait (defect 7).
On ``s3://`` storage a read lists the partition's objects, and that grows with the bucket
(hundreds of milliseconds on the local moto server after a few thousand records): once a read
takes longer than the wait, every fetch comes back empty, for ever, while the responses' high
watermarks say records are waiting (defect 10, docs/RELIABILITY.md). Apache Kafka never does
this: it answers as soon as data is there, and the pacer never fires.

``FetchPacer`` notices it: no record for ``patience_s`` (and at least four fetch waits) while
the high watermark of an assigned partition is ahead of its position. It then doubles the
consumer's wait, up to ``ceiling_ms``, and logs ``fetch.starved``. A raised wait stays raised:
storage that was slow stays slow, and lowering it again would stall the consumer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition

log = structlog.get_logger(__name__)

CEILING_MS = 10_000
PATIENCE_S = 2.0
POSITION_TIMEOUT_S = 0.1
END_TIMEOUT_S = 1.0
CHECK_INTERVAL_S = 0.25


class FetchPacer:
    """The fetch wait of one consumer, raised when it starves (see the module)."""

    def __init__(
        self,
        wait_ms: int,
        *,
        ceiling_ms: int = CEILING_MS,
        patience_s: float = PATIENCE_S,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ) -> None:
        self.wait_ms = wait_ms
        self.ceiling_ms = ceiling_ms
        self.patience_s = patience_s
        self.clock = clock
        self.log = logger or log
        self.starving_since: float | None = None
        self.raised = 0
        self._next_check = 0.0

    def observe(self, records: int, backlog: int) -> int | None:
        """One fetch: the records it returned and the records still waiting behind the
        positions. Returns the new wait when it is raised."""
        now = self.clock()
        if records or backlog <= 0:
            self.starving_since = None
            return None
        if self.starving_since is None:
            self.starving_since = now
            return None
        starved_s = now - self.starving_since
        if starved_s < max(self.patience_s, 4 * self.wait_ms / 1000):
            return None
        if self.wait_ms >= self.ceiling_ms:
            return None
        self.wait_ms = min(self.ceiling_ms, max(2 * self.wait_ms, 100))
        self.starving_since = now
        self.raised += 1
        self.log.warning(
            "fetch.starved", backlog=backlog, starved_s=round(starved_s, 1), wait_ms=self.wait_ms
        )
        return self.wait_ms

    def pause(self) -> None:
        """Forget the current starvation (the broker is down: an empty fetch says nothing)."""
        self.starving_since = None

    async def after_fetch(self, consumer: AIOKafkaConsumer, records: int) -> None:
        """Observe one ``getmany`` of ``consumer``; raise its wait when it starves. The
        backlog of an empty fetch is looked up at most every ``CHECK_INTERVAL_S``."""
        if records:
            self.observe(records, 0)
            return
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL_S
        raised = self.observe(0, await backlog(consumer))
        if raised is not None:
            set_fetch_max_wait(consumer, raised)


async def backlog(consumer: AIOKafkaConsumer) -> int:
    """Records behind the positions of the assigned partitions.

    The end of a partition is the last fetch response's high watermark. A starved consumer may
    never have had one (Tansu's memory storage then answers without the partition), so its
    end is asked for (ListOffsets). That answer can be short of the real end after batched
    produces (docs/BROKER.md), but never at or below a position that has records behind it
    in a batch not yet read, which is all this needs. Partitions whose position is being
    reset count 0.
    """
    ends: dict[TopicPartition, int] = {}
    unknown: list[TopicPartition] = []
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            unknown.append(tp)
        else:
            ends[tp] = highwater
    if unknown:  # when the broker does not answer, nothing is known to wait
        with contextlib.suppress(TimeoutError, KafkaError):
            ends.update(await asyncio.wait_for(consumer.end_offsets(unknown), END_TIMEOUT_S))
    total = 0
    for tp, end in ends.items():
        try:
            position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_S)
        except (TimeoutError, IllegalStateError):  # being reset, or no longer assigned
            continue
        total += max(0, end - position)
    return total


def set_fetch_max_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> None:
    """Change the wait of a running consumer's next fetches.

    aiokafka has no public setter: its fetcher reads ``_fetch_max_wait_ms`` for every request
    it builds (aiokafka 0.14; ``tests/unit/agents/test_fetch_pacer.py`` fails if that changes).
    """
    fetcher = consumer._fetcher
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        raise RuntimeError("this aiokafka has no fetcher wait to change")
    fetcher._fetch_max_wait_ms = wait_ms
