"""Hub codec versus bare fastavro schemaless, on the same records, in the same run.

Prints JSON: records/s for bare fastavro encode/decode, the hub codec (framing, schema
lookup, error wrapping, trailing-byte check) and the typed path (pydantic model dump and
validation on top), and the hub/bare ratios. Goal: codec ratio >= 0.8.

With ``--per-schema``: µs per encode of each example record (its ``model_dump``), by bare
fastavro and by the hub codec, best of ``--repeat`` runs of ``--records`` encodes spread over
the examples.

    .venv/bin/python bench/codec.py [--records 20000] [--repeat 5] [--per-schema]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from hub.contracts.codec import HEADER_SIZE, Codec
from hub.contracts.events import subject_of
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.runtime.settings import get_settings


def rate(operation: Callable[[], None], count: int, repeat: int) -> float:
    """Best-of-``repeat`` operations per second for ``count`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - start)
    return count / best


def per_schema(records: int, repeat: int) -> dict[str, Any]:
    """µs per encode of each example record: bare fastavro, then the hub codec."""
    registry = SchemaRegistry.load(get_settings().schemas_dir)
    codec = Codec(registry)
    examples = [event for _agency, event in example_events()]
    calls = max(1, records // len(examples))
    table: dict[str, Any] = {}
    for event in examples:
        schema = registry.latest(subject_of(type(event)))
        record = event.model_dump()

        def bare(schema: Any = schema, record: Any = record) -> None:
            for _ in range(calls):
                schemaless_writer(BytesIO(), schema.parsed, record)

        def hub(schema: Any = schema, record: Any = record) -> None:
            for _ in range(calls):
                codec.encode_with(schema, record)

        table[type(event).__name__] = {
            "bare_us": round(1e6 / rate(bare, calls, repeat), 2),
            "hub_us": round(1e6 / rate(hub, calls, repeat), 2),
        }
    return {"benchmark": "codec-per-schema", "calls_per_record": calls, "us": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--per-schema", action="store_true")
    args = parser.parse_args()
    if args.per_schema:
        print(json.dumps(per_schema(args.records, args.repeat), indent=2))
        return

    registry = SchemaRegistry.load(get_settings().schemas_dir)
    codec = Codec(registry)
    events = [event for _agency, event in example_events()]
    subjects = [subject_of(type(event)) for event in events]
    records = [event.model_dump() for event in events]
    schemas = [registry.latest(subject) for subject in subjects]
    frames = [codec.encode(s, r) for s, r in zip(subjects, records, strict=True)]
    bodies = [frame[HEADER_SIZE:] for frame in frames]
    n = args.records
    work = [(i % len(events)) for i in range(n)]

    def bare_encode() -> None:
        for i in work:
            schemaless_writer(BytesIO(), schemas[i].parsed, records[i])

    def hub_encode() -> None:
        for i in work:
            codec.encode(subjects[i], records[i])

    def typed_encode() -> None:
        for i in work:
            codec.encode_event(events[i])

    def bare_decode() -> None:
        for i in work:
            schemaless_reader(BytesIO(bodies[i]), schemas[i].parsed, None)

    def hub_decode() -> None:
        for i in work:
            codec.decode(frames[i])

    def typed_decode() -> None:
        for i in work:
            codec.decode_event(frames[i])

    measured: dict[str, Any] = {}
    for name, operation in [
        ("bare_encode", bare_encode),
        ("hub_encode", hub_encode),
        ("typed_encode", typed_encode),
        ("bare_decode", bare_decode),
        ("hub_decode", hub_decode),
        ("typed_decode", typed_decode),
    ]:
        measured[name] = round(rate(operation, n, args.repeat))
    result = {
        "benchmark": "codec",
        "records": n,
        "repeat": args.repeat,
        "event_types": len(events),
        "mean_frame_bytes": round(statistics.mean(len(f) for f in frames)),
        "python": platform.python_version(),
        "records_per_s": measured,
        "ratio": {
            "hub_encode_vs_bare": round(measured["hub_encode"] / measured["bare_encode"], 3),
            "hub_decode_vs_bare": round(measured["hub_decode"] / measured["bare_decode"], 3),
            "typed_encode_vs_bare": round(measured["typed_encode"] / measured["bare_encode"], 3),
            "typed_decode_vs_bare": round(measured["typed_decode"] / measured["bare_decode"], 3),
        },
        "goal": {"hub_vs_bare": 0.8},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
