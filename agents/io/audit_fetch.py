"""Reading the audit topic: to the high watermark with a consumer, or exact offsets by Fetch.

Reading "up to the end" always stops at the fetch response's high watermark, never at
``end_offsets()``, which the embedded broker answers wrongly after batched produces
(docs/BROKER.md). ``read_offsets`` reads exactly the offsets it is given with direct Fetch
requests at those offsets (one request per leader per round, every partition in parallel), so
replaying one case costs O(entries of the case), not O(log).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from agents.io import clients
from hub.runtime.settings import HubSettings

# A poll returns as soon as records arrive; with none it waits this long, and the broker holds
# an empty fetch for FETCH_WAIT_MS: together they set the cost of a catch-up with nothing new.
POLL_MS = 10
FETCH_WAIT_MS = 50
MAX_POLL_RECORDS = 20_000
# Bytes asked per direct fetch. The broker always returns the whole batch holding the offset;
# 16 KiB (aiokafka's default batch) keeps sparse reads light, while a case's entries written
# close together still come back in one request.
CASE_FETCH_BYTES = 16 * 1024


class Stored(NamedTuple):
    """One record as stored: key, value and headers (the hub's signature is in the headers)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


class AuditLogUnavailable(RuntimeError):
    """The audit topic cannot be read (no such topic, broker unreachable, timeout)."""


def audit_consumer(settings: HubSettings) -> AIOKafkaConsumer:
    """A consumer for reading the audit topic from given offsets (no group, no commits)."""
    return clients.assigned_consumer(
        settings,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_WAIT_MS,
        request_timeout_ms=10_000,
    )


async def audit_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``; AuditLogUnavailable when it does not exist."""
    topics = await consumer.topics()
    partitions = consumer.partitions_for_topic(topic) if topic in topics else None
    if not partitions:
        raise AuditLogUnavailable(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_to_high_watermark(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int],
    deadline: float,
    on_batch: Callable[[Mapping[TopicPartition, list[Any]], dict[int, int]], None],
) -> tuple[bool, dict[int, int]]:
    """Feed every record from ``starts`` up to the high watermark to ``on_batch``.

    Returns (complete, high watermarks). Bounded by ``deadline``; each wait is one poll.
    """
    consumer.assign(list(starts))
    next_offset = dict(starts)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    while time.monotonic() < deadline:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        batch = await consumer.getmany(
            timeout_ms=max(1, min(POLL_MS, remaining_ms)), max_records=MAX_POLL_RECORDS
        )
        for tp, records in batch.items():
            if records:
                next_offset[tp] = records[-1].offset + 1
        on_batch(batch, {tp.partition: o for tp, o in next_offset.items()})
        watermarks = {tp: consumer.highwater(tp) for tp in starts}
        if all(hw is not None and next_offset[tp] >= hw for tp, hw in watermarks.items()):
            return True, {tp.partition: int(hw or 0) for tp, hw in watermarks.items()}
    watermarks = {tp: consumer.highwater(tp) for tp in starts}
    return False, {tp.partition: int(hw) for tp, hw in watermarks.items() if hw is not None}


async def read_offsets(
    settings: HubSettings,
    topic: str,
    wanted: Mapping[int, Iterable[int]],
    *,
    timeout_s: float = 10.0,
) -> dict[tuple[int, int], Stored]:
    """The record (key, value, headers) at each wanted (partition, offset), by direct Fetch.

    Each round sends, for every partition, one Fetch at its lowest offset still wanted, and
    keeps whatever wanted offsets the returned batches hold. An offset the broker answered
    past, or at/after the high watermark, is gone and left out. Rounds are bounded by the
    number of offsets wanted (plus a few retries of empty answers) and by ``timeout_s``.

    Why not ``consumer.seek`` + ``getmany``: through aiokafka's fetcher each jump costs
    10-20 ms on the embedded broker, against 0.3-2 ms for the Fetch request itself. Why one
    request per partition: the embedded broker fills a multi-partition Fetch from its first
    partition only, and honours the request's ``max_bytes`` but not the partition's.
    """
    pending = {p: _Wanted(sorted(set(offsets))) for p, offsets in wanted.items() if offsets}
    found: dict[tuple[int, int], Stored] = {}
    if not pending:
        return found
    client = clients.raw_client(settings, request_timeout_ms=int(timeout_s * 1000))
    deadline = time.monotonic() + timeout_s
    try:
        await client.bootstrap()
        await client.add_topic(topic)
        rounds = sum(len(w.offsets) for w in pending.values()) + _EMPTY_RETRIES + 1
        for _ in range(rounds):
            if not pending:
                break
            if time.monotonic() > deadline:
                raise AuditLogUnavailable(f"reading {topic} took more than {timeout_s}s")
            await _fetch_round(client, topic, pending, found)
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        await client.close()
    return found


_EMPTY_RETRIES = 3
# Long enough for the embedded broker to collect a batch (it answers empty when its scan
# outlasts max_wait), and only ever waited in full at the end of a partition.
_FETCH_MAX_WAIT_MS = 500


@dataclass
class _Wanted:
    offsets: list[int]
    empty_answers: int = 0


async def _fetch_round(
    client: AIOKafkaClient,
    topic: str,
    pending: dict[int, _Wanted],
    found: dict[tuple[int, int], Stored],
) -> None:
    partitions = list(pending)
    requests = []
    for partition in partitions:
        leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        if leader is None or leader < 0:
            raise AuditLogUnavailable(f"no leader for {topic}[{partition}]")
        fetch = FetchRequest(
            _FETCH_MAX_WAIT_MS,
            1,
            CASE_FETCH_BYTES,
            0,
            [(topic, [(partition, pending[partition].offsets[0], CASE_FETCH_BYTES)])],
        )
        requests.append(client.send(leader, fetch))
    for response in await asyncio.gather(*requests):
        for _topic, answered in response.topics:
            for partition, error_code, highwater, *data in answered:
                if error_code:
                    raise for_code(error_code)(f"fetching {topic}[{partition}]")
                if partition in pending:
                    _take(partition, highwater, data[-1], pending, found)


def _take(
    partition: int,
    highwater: int,
    data: bytes,
    pending: dict[int, _Wanted],
    found: dict[tuple[int, int], Stored],
) -> None:
    wanted = pending[partition]
    wanted_set = set(wanted.offsets)
    last_seen = -1
    records = MemoryRecords(data)
    while records.has_next():
        batch = records.next_batch()
        if batch is None or batch.is_control_batch:
            continue
        for record in batch:
            last_seen = record.offset
            if record.offset in wanted_set:
                found[(partition, record.offset)] = Stored(
                    record.key, record.value, tuple(record.headers)
                )
    # Offsets the broker answered past, or beyond its high watermark, are not in the log.
    remaining = [
        o for o in wanted.offsets if (partition, o) not in found and last_seen < o < highwater
    ]
    if last_seen == -1 and remaining:
        wanted.empty_answers += 1
        if wanted.empty_answers > _EMPTY_RETRIES:
            remaining.pop(0)  # the broker keeps answering nothing for it: give up on it
            wanted.empty_answers = 0
    if remaining:
        wanted.offsets = remaining
    else:
        del pending[partition]
