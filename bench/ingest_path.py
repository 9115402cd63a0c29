"""The worker's per-record path up to the typed event, in process (no broker).

The records are the story's (bench/story.py: consent, rights, choice, PermitRequested per
referral), encoded and signed as police-93's client does, then read back as aiokafka
``ConsumerRecord`` values. Two measures, CPU time (``time.process_time``), median of
``--repeat`` passes, in µs per referral:

- ``ingest``: ``hub.flow.ingest.ingest`` alone (re-drive check, decode, model, key and
  partition, indicator codes; the signature check only with ``--signatures on``);
- ``worker``: ``Router._one`` as the loop calls it (``raw_record``, ingest, ``raw_of``, the
  log binds, the hooks, the stats), with the case flow and the writes replaced by the outcome
  the flow decided for that record beforehand and a sink that writes nothing: what the worker
  spends per record besides deciding and writing.

``fingerprint`` is a digest of every result (the accepted events, their records, frames and
ids, and the refusals of a few bad records with their reasons and details): two trees that
print the same fingerprint turned the same bytes into the same values (signatures off: signed
records carry the time they were signed).

    .venv/bin/python bench/ingest_path.py [--referrals 300] [--repeat 11] [--signatures off]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import random
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import ConsumerRecord

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import agents.router  # noqa: E402
from agents.hooks import HookChain  # noqa: E402
from agents.router import Router  # noqa: E402
from agents.router_parts import Policies  # noqa: E402
from agents.stats import RouterStats  # noqa: E402
from bench.story import SENDER, agency_signer, story  # noqa: E402
from hub.contracts import partitioning  # noqa: E402
from hub.contracts.codec import Codec  # noqa: E402
from hub.contracts.events import PermitRequested, ReferralOpened, subject_of  # noqa: E402
from hub.contracts.examples import example_events  # noqa: E402
from hub.contracts.hub_records import DeadLetter  # noqa: E402
from hub.contracts.partitioning import case_partition  # noqa: E402
from hub.contracts.registry import SchemaRegistry  # noqa: E402
from hub.contracts.topics import outbox_topic  # noqa: E402
from hub.flow.case_flow import handle  # noqa: E402
from hub.flow.case_state import CaseState  # noqa: E402
from hub.flow.decisions import Inbound, Outcome  # noqa: E402
from hub.flow.ingest import RawRecord, Rejected, ingest  # noqa: E402
from hub.rules.directory import Directory  # noqa: E402
from hub.rules.indicators import IndicatorGrid  # noqa: E402
from hub.runtime.clock import wall_clock  # noqa: E402
from hub.runtime.logs import configure_logging  # noqa: E402
from hub.runtime.settings import get_settings  # noqa: E402
from hub.trust.verification import RecordVerifier  # noqa: E402

PARTITIONS = 4
TOPIC = outbox_topic(SENDER)
FIXED_MS = 1_796_000_000_000


def consumer_records(codec: Codec, events: list[Any], *, signed: bool) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """``events`` as the worker's consumer reads them from police-93's outbox."""
    signer = agency_signer(get_settings()) if signed else None
    now_ms = int(datetime.now(UTC).timestamp() * 1000) if signed else FIXED_MS
    out = []
    for offset, event in enumerate(events):
        key = str(event.envelope.case_id).encode()
        value = codec.encode_event(event)
        headers = signer.sign(TOPIC, key, value) if signer else []
        partition = case_partition(event.envelope.case_id, PARTITIONS)
        out.append(
            ConsumerRecord(
                TOPIC,
                partition,
                offset,
                now_ms,
                0,
                key,
                value,
                None,
                len(key),
                len(value),
                tuple(headers),
            )
        )
    return out


def bad_records(codec: Codec, event: PermitRequested) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """Refusals of every stage: frame, schema id, Avro layout, model, channel, key, partition,
    indicator codes, a type only the hub emits."""
    (good,) = consumer_records(codec, [event], signed=False)
    value: bytes = good.value

    def variant(**changes: Any) -> ConsumerRecord:  # type: ignore[type-arg]
        return dataclasses.replace(good, **changes)

    examples = {type(e): e for _sender, e in example_events()}
    referral = examples[ReferralOpened].model_copy(update={"indicator_codes": ("TRAV-01",)})
    invalid = {**event.model_dump(), "departement": "00"}
    return [
        variant(value=b"\x01" + value[1:]),
        variant(value=value[:3]),
        variant(value=struct.pack(">bI", 0, 9999) + value[5:]),
        variant(value=value[:-1]),
        variant(value=value + b"\x00"),
        variant(value=value[:5] + b"\x7f" + value[6:]),
        variant(value=codec.encode(subject_of(PermitRequested), invalid)),
        variant(topic=outbox_topic("nobody-99")),
        variant(key=b"not-the-case"),
        variant(partition=(good.partition + 1) % PARTITIONS),
        variant(value=None),
        *consumer_records(codec, [referral], signed=False),
        variant(value=codec.encode_event(examples[DeadLetter])),
    ]


def seeded_ids(seed: int) -> Callable[[], uuid.UUID]:
    """A ``uuid.uuid4`` drawing from a seeded generator: the same story in every run."""
    draw = random.Random(seed)
    return lambda: uuid.UUID(int=draw.getrandbits(128), version=4)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """A coroutine that never suspends (the stub sink's), run without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


class NoWrites:
    """The outcome sink, writing nothing."""

    async def dead_letter(self, *_args: Any, **_kw: Any) -> list[Any]:
        return []

    async def apply(self, *_args: Any, **_kw: Any) -> list[Any]:
        return []


class Partitions:
    """The consumer, as far as ``_one`` asks it."""

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))


def fingerprint(results: list[Any]) -> str:
    """A digest of every value ingest returned."""
    digest = hashlib.sha256()
    for result in results:
        if isinstance(result, Inbound):
            parts: tuple[Any, ...] = (
                "inbound",
                result.subject,
                sorted(result.record.items(), key=str),
                type(result.event).__name__,
                result.event.model_dump(),
                result.sender.id,
                result.topic,
                result.partition,
                result.offset,
                result.timestamp,
                result.digest,
                result.frame,
                result.headers,
                result.redriven,
                result.event_id,
            )
        else:
            parts = ("refused", repr(result))
        digest.update(repr(parts).encode())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--referrals", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--signatures", choices=("on", "off"), default="off")
    args = parser.parse_args()
    signed = args.signatures == "on"

    settings = get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)  # as the worker does
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    directory = Directory.load(settings.config_dir)
    grid = IndicatorGrid.load(settings.config_dir)
    verifier = RecordVerifier() if signed else None
    # The same ids in every run, so that two trees' fingerprints compare.
    uuid4, uuid.uuid4 = uuid.uuid4, seeded_ids(24)
    try:
        events = story(args.referrals)
    finally:
        uuid.uuid4 = uuid4
    records = consumer_records(codec, events, signed=signed)

    def ingested(record: ConsumerRecord) -> Any:  # type: ignore[type-arg]
        raw = RawRecord(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            record.timestamp,
            tuple(record.headers),
            PARTITIONS,
        )
        return ingest(raw, codec, directory, verifier, lambda _t: PARTITIONS, indicators=grid)

    checked = records[:8] + bad_records(codec, events[3])
    results = [ingested(r) for r in checked]
    refused = [r.reason.value for r in results if isinstance(r, Rejected)]

    # What the flow decides for each record, worked out once: the worker then only looks it up.
    context = Policies.load(settings.config_dir, codec.registry).context(directory, None)
    states: dict[uuid.UUID, Any] = {}
    outcomes: dict[uuid.UUID, Outcome] = {}
    for record in records:
        inbound = ingested(record)
        assert isinstance(inbound, Inbound), inbound
        case_id = inbound.event.envelope.case_id  # type: ignore[attr-defined]
        outcome = handle(
            states.get(case_id) or CaseState(case_id=case_id), inbound, context, wall_clock()
        )
        states[case_id] = outcome.state
        outcomes[inbound.event_id] = outcome

    router = stub_router(codec, verifier, grid)
    agents.router.handle = lambda _s, inbound, _c, _n: outcomes[inbound.event_id]  # type: ignore[assignment]

    def ingest_pass() -> None:
        for record in records:
            ingested(record)

    def worker_pass() -> None:
        for record in records:
            run(router._one(record, context))

    figures = {
        "ingest": _median_us(ingest_pass, args.repeat, args.referrals),
        "worker": _median_us(worker_pass, args.repeat, args.referrals),
    }
    print(
        json.dumps(
            {
                "benchmark": "ingest_path",
                "python": platform.python_version(),
                "referrals": args.referrals,
                "records_per_referral": len(records) // args.referrals,
                "signatures": args.signatures,
                "repeat": args.repeat,
                "us_per_referral": figures,
                "refused": refused,
                "fingerprint": fingerprint(results),
            },
            indent=2,
        )
    )


def stub_router(codec: Codec, verifier: RecordVerifier | None, grid: IndicatorGrid) -> Router:
    """A router whose ``_one`` runs as the loop's, over a sink that writes nothing, a consumer
    that knows four partitions and a store of new cases (no broker)."""
    router = Router.__new__(Router)
    router.parts = SimpleNamespace(  # type: ignore[assignment]
        codec=codec,
        verifier=verifier,
        key_store=None,
        hub_keys=(),
        operator_keys=(),
        policies=SimpleNamespace(indicators=grid),
    )
    router.codec = codec
    router.clock = wall_clock
    router.stats = RouterStats()
    router.hooks = HookChain([router.stats])
    router._sink = NoWrites()  # type: ignore[assignment]
    router._consumer = Partitions()  # type: ignore[assignment]
    router.store = SimpleNamespace(get=lambda _partition, _case_id: None)  # type: ignore[assignment]
    return router


def _forget_cases() -> None:
    """Forget what a pass learnt of its cases, so that every pass meets each case for the first
    time, as a worker does the story's new cases (the per-case caches, where a tree has them)."""
    reader = sys.modules.get("hub.contracts.avro_reader")
    for cached in (partitioning.case_partition, getattr(reader, "_uuid", None)):
        clear = getattr(cached, "cache_clear", None)
        if clear is not None:
            clear()


def _median_us(work: Callable[[], None], repeat: int, referrals: int) -> dict[str, float]:
    """Median and best CPU µs per referral of ``repeat`` passes of ``work`` (after one
    warm-up): the best is the steadier figure on a shared machine."""
    work()
    times = []
    for _ in range(repeat):
        _forget_cases()
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return {
        "median": round(statistics.median(times) / referrals * 1e6, 1),
        "best": round(min(times) / referrals * 1e6, 1),
    }


if __name__ == "__main__":
    main()
