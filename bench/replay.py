"""Replay of one case through the audit index, as the audit log grows; verify throughput.

For each size (10k, 100k, 1M audit entries by default) a fresh embedded broker is started
(it keeps everything in memory: restarted between sizes), the log is produced (batched
aiokafka sends) with one 50-entry target case spread evenly through it among 20-entry
filler cases, the index catches up, then the target case is replayed several times:
index lookup + direct fetch of its offsets + decode + decrypt + verify. Verification is
also run over the whole topic (read, decode, canonical check, chains). Prints JSON.

    .venv/bin/python bench/replay.py [--sizes 10000,100000,1000000] [--repeat 9]

Goal: replay time flat in the log size and under 100 ms at 1M entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest

from agents.audit_index.indexer import catch_up
from agents.audit_index.reading import fetch_case_records, verify_topic
from agents.audit_index.store import AuditIndex
from agents.io import clients
from agents.io.audit_fetch import CASE_FETCH_BYTES
from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import MemoryKeyStore
from hub.audit.proof import no_proof
from hub.audit.replay import timeline
from hub.audit.verify import verify
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction, DataCategory
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings
from hub.runtime.topic_admin import create_topics

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
FILLER_ENTRIES = 20
ACTIVE_CASES = 1000  # filler cases interleaved at any moment
PAYLOAD = {
    "identity": {"first_name": "Amina", "last_name": "Kouassi", "aliases": ["Mina"]},
    "immigration_status": {"immigration_status": "IRREGULAR", "nationalities": ["CI"]},
    "health": {"health_needs": "follow-up of a chronic condition, interpreter needed"},
}


def entry_for(
    heads: dict[uuid.UUID, ChainHead], case_id: uuid.UUID, n: int, store: MemoryKeyStore
) -> AuditEntry:
    entry, heads[case_id] = next_entry(
        heads.get(case_id),
        case_id=case_id,
        recorded_at=T0 + timedelta(seconds=n),
        actor="hub",
        actor_role=AgencyRole.HUB,
        event_id=uuid.UUID(int=n + 1),
        action=AuditAction.ROUTED,
        decision="route",
        legal_basis="consent:8d2f8f9e-5c1b-4a43-9d1e-3f3c1b2a0c11",
        recipient="prefecture-93",
        categories=(DataCategory.IDENTITY,),
        payload=PAYLOAD,
        key_store=store,
    )
    return entry


def audit_log(
    size: int, target: uuid.UUID, target_entries: int, store: MemoryKeyStore
) -> Iterator[AuditEntry]:
    """``size`` filler entries with the target case's entries spread evenly among them."""
    heads: dict[uuid.UUID, ChainHead] = {}
    every = max(1, size // target_entries)
    block = FILLER_ENTRIES * ACTIVE_CASES
    fillers: dict[int, uuid.UUID] = {}
    emitted = 0
    for n in range(size):
        if n % every == 0 and emitted < target_entries:
            yield entry_for(heads, target, n, store)
            emitted += 1
        number = (n // block) * ACTIVE_CASES + (n % block) % ACTIVE_CASES
        case_id = fillers.setdefault(number, uuid.UUID(int=number + 1))
        if len(fillers) > 2 * ACTIVE_CASES:
            fillers.pop(next(iter(fillers)))
        yield entry_for(heads, case_id, n, store)
        if heads[case_id].seq == FILLER_ENTRIES - 1:
            heads.pop(case_id)
    while emitted < target_entries:
        yield entry_for(heads, target, size + emitted, store)
        emitted += 1


async def produce(
    settings: HubSettings, codec: Codec, entries: Iterator[AuditEntry], batch_bytes: int
) -> int:
    producer = AIOKafkaProducer(
        **client_options(settings), linger_ms=20, max_batch_size=batch_bytes, acks=1
    )
    await producer.start()
    count = 0
    pending: list[Any] = []
    try:
        for entry in entries:
            value = codec.encode_event(entry)
            pending.append(await producer.send(AUDIT.name, value, key=str(entry.case_id).encode()))
            count += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


class CountingClient(AIOKafkaClient):  # type: ignore[misc]
    """Counts the requests ``fetch_case_records`` sends (installed for the replay runs)."""

    sent = 0

    async def send(self, node_id: Any, request: Any, **kwargs: Any) -> Any:
        CountingClient.sent += isinstance(request, FetchRequest)
        return await super().send(node_id, request, **kwargs)


async def broker_fetch_ms(settings: HubSettings, entries: int, repeat: int = 21) -> float:
    """Median latency of one Fetch at a random offset: the broker's own cost per request."""
    client = AIOKafkaClient(**client_options(settings))
    await client.bootstrap()
    await client.add_topic(AUDIT.name)
    node = client.cluster.leader_for_partition(TopicPartition(AUDIT.name, 0))
    samples = []
    try:
        for n in range(repeat):
            offset = (n * 7919) % max(1, entries // 8)
            fetch = FetchRequest(500, 1, CASE_FETCH_BYTES, 0, [(AUDIT.name, [(0, offset, 1)])])
            started = time.perf_counter()
            await client.send(node, fetch)
            samples.append(time.perf_counter() - started)
    finally:
        await client.close()
    return round(statistics.median(samples) * 1000, 2)


def stats_ms(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples) * 1000, 2),
        "min": round(min(samples) * 1000, 2),
        "max": round(max(samples) * 1000, 2),
    }


async def run_size(size: int, args: argparse.Namespace, codec: Codec) -> dict[str, Any]:
    store = MemoryKeyStore()
    target = uuid.uuid4()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as data_dir:
        settings = get_settings().model_copy(
            update={"bootstrap_servers": broker.bootstrap_servers, "data_dir": Path(data_dir)}
        )
        await create_topics(settings, [AUDIT])
        started = time.perf_counter()
        produced = await produce(
            settings, codec, audit_log(size, target, args.case_entries, store), args.batch_bytes
        )
        produce_s = time.perf_counter() - started

        with AuditIndex.open(settings) as index:
            started = time.perf_counter()
            caught = await catch_up(settings, index, codec, timeout_s=600)
            index_s = time.perf_counter() - started
            noop: list[float] = []
            fetch: list[float] = []
            replay: list[float] = []
            requests_before = CountingClient.sent
            for _ in range(args.repeat):
                started = time.perf_counter()
                await catch_up(settings, index, codec, timeout_s=30)
                noop.append(time.perf_counter() - started)
                started = time.perf_counter()
                # The bench writes unsigned entries: it measures reading and the chain, not
                # signature checks (bench/signing.py measures those).
                records = await fetch_case_records(settings, index, target, codec, prove=no_proof)
                fetched = time.perf_counter()
                rows = timeline(records, store)
                known = index.head(target)
                report = verify(records, heads={target: known} if known else None)
                done = time.perf_counter()
                fetch.append(fetched - started)
                replay.append(done - started)
                assert len(rows) == args.case_entries, len(rows)
                assert report.ok, report.problems[:3]
            requests = (CountingClient.sent - requests_before) / args.repeat
        result: dict[str, Any] = {
            "entries": produced,
            "produce_s": round(produce_s, 1),
            "produce_entries_per_s": round(produced / produce_s),
            "index_s": round(index_s, 1),
            "index_entries_per_s": round(caught.indexed / index_s),
            "index_complete": caught.complete,
            "replay_ms": stats_ms(replay),
            "fetch_ms": stats_ms(fetch),
            "fetch_requests_per_replay": requests,
            "broker_ms_per_fetch_request": await broker_fetch_ms(settings, produced),
            "catch_up_noop_ms": stats_ms(noop),
        }
        if args.verify_topic:
            started = time.perf_counter()
            report, complete = await verify_topic(settings, codec, prove=no_proof, timeout_s=900)
            verify_s = time.perf_counter() - started
            result["verify_topic"] = {
                "entries_per_s": round(report.records / verify_s),
                "seconds": round(verify_s, 1),
                "ok": report.ok and complete,
                "cases": report.cases,
            }
    return result


def chain_verify_rate(codec: Codec, count: int = 50_000) -> dict[str, float]:
    """Pure chain verification (hash recomputation and analysis) on decoded entries."""
    store = MemoryKeyStore()
    entries = list(audit_log(count, uuid.uuid4(), 50, store))
    started = time.perf_counter()
    report = verify(entries)
    seconds = time.perf_counter() - started
    assert report.ok
    return {"entries": len(entries), "entries_per_s": round(len(entries) / seconds)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--case-entries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--batch-bytes", type=int, default=16384, help="producer max_batch_size (aiokafka default)"
    )
    parser.add_argument(
        "--no-verify-topic", dest="verify_topic", action="store_false", help="skip whole-log verify"
    )
    args = parser.parse_args()
    configure_logging(level="WARNING")  # stdout is the JSON result only
    clients.AIOKafkaClient = CountingClient  # type: ignore[attr-defined]
    codec = Codec(SchemaRegistry.load(get_settings().schemas_dir))
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        results.append(await run_size(size, args, codec))
    medians = [r["replay_ms"]["median"] for r in results]
    print(
        json.dumps(
            {
                "benchmark": "audit replay of one case through the index",
                "python": platform.python_version(),
                "case_entries": args.case_entries,
                "producer": {"linger_ms": 20, "max_batch_size": args.batch_bytes},
                "sizes": results,
                "chain_verify": chain_verify_rate(codec),
                "replay_growth_largest_vs_smallest": round(medians[-1] / medians[0], 2),
                "goal_under_100ms_at_largest": medians[-1] < 100,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
