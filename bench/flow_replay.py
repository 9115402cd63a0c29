"""The worker's decision path for the benchmark's story, in process: no broker, no signatures.

Replays ``bench/story.py``'s referrals (consent, rights information, choice, the police's
PermitRequested) as the routing worker handles them once ingested: the case state from the
``CaseStore``, ``hub.flow.case_flow.handle``, the ``OutcomeSink`` (deliveries, hub records,
audit entries through the ``OutboxWriter``), then, per batch, the changed states encoded to the
changelog. Ingest (decoding, signatures) is done once before timing: it is not measured here.
Every id, key and instant is derived from a seed, so two runs of the same code write the same
bytes: ``--digest`` prints one SHA-256 over everything written and decided, to prove that a
change of the hot path changed no outcome.

    .venv/bin/python bench/flow_replay.py [--referrals 2000] [--repeat 5] [--digest]

Prints JSON: CPU µs per referral (``time.process_time``) per run, and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from unittest import mock

from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.hooks import RouterHooks  # noqa: E402
from agents.io.case_store import CaseStore  # noqa: E402
from agents.io.outbox_writer import Futures, OutboxWriter  # noqa: E402
from agents.outcome_sink import OutcomeSink  # noqa: E402
from agents.refusal_notifier import RefusalNotifier  # noqa: E402
from agents.router_parts import Policies  # noqa: E402
from bench.story import SENDER, story  # noqa: E402
from hub.audit.keys import MemoryKeyStore  # noqa: E402
from hub.contracts.codec import Codec  # noqa: E402
from hub.contracts.partitioning import case_partition  # noqa: E402
from hub.contracts.registry import SchemaRegistry  # noqa: E402
from hub.contracts.topics import outbox_topic  # noqa: E402
from hub.flow.case_flow import handle  # noqa: E402
from hub.flow.dead_letters import dead_letter  # noqa: E402
from hub.flow.deadline_index import PartitionedDeadlines  # noqa: E402
from hub.flow.decisions import Context, Inbound, Outcome  # noqa: E402
from hub.flow.ingest import RawRecord, ingest, raw_of  # noqa: E402
from hub.rules.directory import Directory  # noqa: E402
from hub.rules.notice_budget import NoticePolicy  # noqa: E402
from hub.runtime.settings import HubSettings  # noqa: E402

PARTITIONS = 4
BATCH = 500
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_MS = int(NOW.timestamp() * 1000) - 60_000


class SeededKeyStore(MemoryKeyStore):
    """A memory key store whose keys and key ids derive from the case id: same bytes each run."""

    def get_or_create(self, case_id: uuid.UUID) -> tuple[str, bytes]:
        found = self._keys.get(case_id)
        if found is None and case_id not in self._destroyed:
            digest = hashlib.sha256(b"flow-replay" + case_id.bytes).digest()
            self._keys[case_id] = (f"{case_id}.{digest[:4].hex()}", digest)
        return super().get_or_create(case_id)


class Producer:
    """Keeps what the writer sends (when ``keep``); every send is acknowledged at once."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.sent: list[tuple[str, int | None, bytes | None, bytes, list[Any]]] = []
        self._done: asyncio.Future[object] | None = None

    def _ack(self) -> asyncio.Future[object]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._done.set_result(None)
        return self._done

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[Any] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[object]:
        if self.keep:
            self.sent.append((topic, partition, key, value, list(headers or [])))
        return self._ack()

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(
        self, batch: Batch, topic: str, *, partition: int
    ) -> asyncio.Future[object]:
        for key, value, headers in batch.records:
            await self.send(topic, value, key=key, headers=headers, partition=partition)
        return self._ack()


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes, list[Any]]] = []

    def append(
        self, *, timestamp: float | None, key: bytes | None, value: bytes, headers: list[Any]
    ) -> object:
        self.records.append((key, value, headers))
        return self


class Kept(RouterHooks):
    """Keeps every outcome the sink applied (when ``keep``: for the digest)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.outcomes: list[Outcome] = []

    def outcome_applied(self, outcome: Outcome, notes: Any) -> None:
        if self.keep:
            self.outcomes.append(outcome)


@contextlib.contextmanager
def seeded_uuid4(seed: int) -> Iterator[None]:
    """``uuid.uuid4`` drawn from ``seed`` while the story is built."""
    rng = random.Random(seed)
    with mock.patch(
        "uuid.uuid4", side_effect=lambda: uuid.UUID(int=rng.getrandbits(128), version=4)
    ):
        yield


def inbound_story(
    referrals: int, codec: Codec, directory: Directory, policies: Policies
) -> list[Inbound]:
    """The story's records as the worker ingests them from police-93's outbox."""
    with seeded_uuid4(24):
        events = story(referrals)
    topic = outbox_topic(SENDER)
    offsets = [0] * PARTITIONS
    out: list[Inbound] = []
    for index, event in enumerate(events):
        case_id = event.envelope.case_id
        partition = case_partition(case_id, PARTITIONS)
        raw = RawRecord(
            topic,
            partition,
            offsets[partition],
            str(case_id).encode(),
            codec.encode_event(event),
            T0_MS + index,
            partitions=PARTITIONS,
        )
        offsets[partition] += 1
        result = ingest(
            raw, codec, directory, None, lambda _t: PARTITIONS, indicators=policies.indicators
        )
        assert isinstance(result, Inbound), result
        out.append(result)
    return out


async def replay(
    inbounds: list[Inbound], ctx: Context, codec: Codec, settings: HubSettings, *, keep: bool
) -> tuple[float, Producer, Kept, CaseStore]:
    """One pass of the story; the CPU seconds it took."""
    keys = SeededKeyStore()
    producer = Producer(keep)
    writer = OutboxWriter(cast(AIOKafkaProducer, producer), codec, keys, None, hold=True)
    hooks = Kept(keep)
    store = CaseStore(settings, key_store=keys)
    deadlines = PartitionedDeadlines()
    for partition in range(PARTITIONS):
        store._states[partition] = {}
        deadlines.assign(partition, ())
    notifier = RefusalNotifier(writer, NoticePolicy(burst=10, refill_seconds=60.0), hooks)
    sink = OutcomeSink(writer, cast(AIOKafkaProducer, producer), store, deadlines, hooks, notifier)
    gc.collect()
    started = time.process_time()
    for first in range(0, len(inbounds), BATCH):
        futures: Futures = []
        for inbound in inbounds[first : first + BATCH]:
            futures += await _one(sink, store, inbound, ctx)
        await sink.settle(futures)
    return time.process_time() - started, producer, hooks, store


async def _one(sink: OutcomeSink, store: CaseStore, inbound: Inbound, ctx: Context) -> Futures:
    """What ``Router._handle`` does with one ingested record."""
    case_id = inbound.event.envelope.case_id  # type: ignore[attr-defined]
    outcome = handle(store.get(inbound.partition, case_id), inbound, ctx, NOW)
    if outcome.duplicate:
        return []
    futures: Futures = []
    if outcome.refusal is not None:
        letter = dead_letter(
            raw_of(inbound),
            outcome.refusal.reason,
            outcome.refusal.detail,
            case_id=case_id,
            event_id=inbound.event_id,
        )
        futures += await sink.dead_letter(letter, ctx.directory, authenticated=False)
    return futures + await sink.apply(inbound.partition, outcome, inbound.timestamp, inbound)


def digest(producer: Producer, hooks: Kept, store: CaseStore) -> dict[str, Any]:
    """SHA-256 of every record written and every outcome decided, and a few counts."""
    h = hashlib.sha256()
    for record in producer.sent:
        h.update(repr(record).encode())
    for outcome in hooks.outcomes:
        h.update(repr(outcome.deliveries).encode())
        h.update(repr(outcome.published).encode())
        h.update(repr(outcome.audit).encode())
        h.update(repr(outcome.opened).encode())
        h.update(repr(outcome.closed).encode())
        h.update(outcome.state.model_dump_json().encode())
    for partition in sorted(store._states):
        for state in store._states[partition].values():
            h.update(state.model_dump_json().encode())
    topics: dict[str, int] = {}
    for record in producer.sent:
        topics[record[0]] = topics.get(record[0], 0) + 1
    return {"sha256": h.hexdigest(), "records_written": topics, "outcomes": len(hooks.outcomes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--digest", action="store_true", help="also print the outcomes' SHA-256")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Sets of strings (categories, enums) iterate in hash order: the same bytes need the
        # same seed in every run compared.
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"}
        )
    if not 1 <= args.referrals <= 20_000 or not 1 <= args.repeat <= 20:
        sys.exit("--referrals in 1..20000, --repeat in 1..20")
    settings = HubSettings()
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    directory = Directory.load(settings.config_dir)
    policies = Policies.load(settings.config_dir, codec.registry)
    window = settings.signature_past_window + settings.signature_future_window
    ctx = policies.context(directory, window)
    inbounds = inbound_story(args.referrals, codec, directory, policies)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)  # as the worker (agents/router.py)
    report: dict[str, Any] = {"referrals": args.referrals, "records": len(inbounds)}
    if args.digest:
        _, producer, hooks, store = asyncio.run(replay(inbounds, ctx, codec, settings, keep=True))
        report["digest"] = digest(producer, hooks, store)
    else:  # a warm-up pass, not counted (the digest pass is one)
        asyncio.run(replay(inbounds, ctx, codec, settings, keep=False))
    runs = [
        asyncio.run(replay(inbounds, ctx, codec, settings, keep=False))[0]
        for _ in range(args.repeat)
    ]
    per = [round(seconds / args.referrals * 1e6, 1) for seconds in runs]
    report["us_per_referral"] = per
    report["median_us_per_referral"] = statistics.median(per)
    report["min_us_per_referral"] = min(per)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
