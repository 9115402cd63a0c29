"""Deadline index: memory per open deadline and tick time against the number open.

Prints JSON. For each size (open deadlines in one partition's index) it measures, with
tracemalloc, the bytes per open deadline (the immutable ``OpenDeadline`` values, then the
index around them), and the time of ``DeadlineIndex.tick(now)`` (pop what is due, advance
it, put it back) with 0 and 1,000 deadlines due, next to a naive scan of every open deadline
for comparison. Goal: tick time flat in the open count (O(due · log n), not O(open)).

    .venv/bin/python bench/deadlines.py [--sizes 10000,100000,1000000] [--due 0,1000]
                                        [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hub.contracts.enums import AgencyRole, Urgency
from hub.flow.deadline_index import DeadlineIndex
from hub.rules.deadlines.open_deadline import OpenDeadline, deadline_id_for, open_deadline
from hub.rules.deadlines.policy import DeadlinePolicy

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
AGENCIES = [f"hebergement-{n:02d}" for n in range(1, 96)]
DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20]


def build(count: int, policy: DeadlinePolicy, seed: int) -> list[OpenDeadline]:
    """``count`` distinct deadlines shaped like real ones (own ids, own instants), their next
    step spread over the next 30 days. Built from templates made by ``open_deadline`` so the
    bulk build stays fast; every deadline still owns its UUIDs and datetimes."""
    rng = random.Random(seed)
    templates = [
        open_deadline(
            case_id=UUID(int=1),
            request_id=UUID(int=2),
            recipient_agency=AGENCIES[i % len(AGENCIES)],
            recipient_role=AgencyRole.ACCOMMODATION_PROVIDER,
            message_type="fr.nrm.AccommodationRequested",
            departement=DEPARTEMENTS[i % len(DEPARTEMENTS)],
            minor=i % 7 == 0,
            urgency=Urgency.ROUTINE,
            opened_at=NOW,
            policy=policy,
        )
        for i in range(64)
    ]
    deadlines = []
    for i in range(count):
        template = templates[i % len(templates)]
        request_id = UUID(int=rng.getrandbits(128))
        due_at = NOW + timedelta(seconds=rng.randrange(60, 30 * 86400))
        deadlines.append(
            replace(
                template,
                deadline_id=deadline_id_for(request_id, template.recipient_agency, 0),
                case_id=UUID(int=rng.getrandbits(128)),
                request_id=request_id,
                opened_at=due_at - timedelta(days=2),
                due_at=due_at,
                step_at=(due_at, due_at + timedelta(days=1), due_at + timedelta(days=2)),
            )
        )
    return deadlines


def measure_memory(count: int, policy: DeadlinePolicy) -> tuple[dict[str, Any], DeadlineIndex]:
    """Bytes per open deadline: the values, then the index (built by ``add``, as a worker
    does), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    deadlines = build(count, policy, seed=count)
    values = tracemalloc.get_traced_memory()[0] - base - sys.getsizeof(deadlines)
    index = DeadlineIndex()
    before_index = tracemalloc.get_traced_memory()[0]
    for deadline in deadlines:
        index.add(deadline)
    index_bytes = tracemalloc.get_traced_memory()[0] - before_index
    tracemalloc.stop()
    memory = {
        "deadline_value_bytes": round(values / count),
        "index_overhead_bytes": round(index_bytes / count),
        "total_bytes_per_open": round((values + index_bytes) / count),
        "total_mib": round((values + index_bytes) / 2**20, 1),
    }
    return memory, index


def timed(operation: Callable[[], object]) -> float:
    start = time.perf_counter()
    operation()
    return (time.perf_counter() - start) * 1000


def measure_tick(index: DeadlineIndex, due: int, repeat: int, seed: int) -> dict[str, Any]:
    """Time to find what is due (``pop_due``) and to fire it (``tick``: pop, advance, put
    back) with ``due`` reminders due at NOW among everything open, against a naive scan of
    every open deadline. Each repetition makes the same ``due`` deadlines due again."""
    rng = random.Random(seed)
    overdue = []
    for d in rng.sample(index.snapshot(), due):
        at = NOW - timedelta(minutes=5)  # the reminder is due; the escalations are not yet
        overdue.append(
            replace(d, due_at=at, step_at=(at, NOW + timedelta(days=1), NOW + timedelta(days=2)))
        )
    pops: list[float] = []
    ticks: list[float] = []
    fired = 0
    calls = 1 if due else 1000  # an empty tick is sub-microsecond: average many
    for _ in range(repeat):
        for deadline in overdue:
            index.add(deadline)
        gc.collect()
        start = time.perf_counter()
        for _ in range(calls):
            popped = index.pop_due(NOW)
        pops.append((time.perf_counter() - start) * 1000 / calls)
        for deadline in popped:
            index.add(deadline)
        start = time.perf_counter()
        for _ in range(calls):
            results = index.tick(NOW)
        ticks.append((time.perf_counter() - start) * 1000 / calls)
        fired = sum(len(r.steps) for r in results)
    deadlines = index.snapshot()

    def naive_scan() -> list[OpenDeadline]:
        return [d for d in deadlines if (at := d.next_at) is not None and at <= NOW]

    naive = min(timed(naive_scan) for _ in range(3))
    return {
        "due": due,
        "steps_fired": fired,
        "pop_due_ms": round(statistics.median(pops), 4),
        "tick_ms": round(statistics.median(ticks), 4),
        "tick_us_per_due": round(statistics.median(ticks) * 1000 / due, 2) if due else None,
        "naive_scan_ms": round(naive, 1),
    }


def open_rate(policy: DeadlinePolicy, count: int) -> float:
    """``open_deadline`` calls per second (rule lookup, working days, ladder), warm caches."""

    def open_many() -> None:
        for i in range(count):
            open_deadline(
                case_id=UUID(int=i),
                request_id=UUID(int=i),
                recipient_agency="hebergement-93",
                recipient_role=AgencyRole.ACCOMMODATION_PROVIDER,
                message_type="fr.nrm.AccommodationRequested",
                departement="93",
                minor=False,
                urgency=Urgency.ROUTINE,
                opened_at=NOW + timedelta(minutes=7 * i),
                policy=policy,
            )

    open_many()
    return count / min(timed(open_many) for _ in range(3)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", default="0,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    dues = [int(d) for d in args.due.split(",")]

    policy = DeadlinePolicy.load()
    opens_per_s = open_rate(policy, 2000)
    results = []
    for size in sizes:
        memory, index = measure_memory(size, policy)
        ticks = [measure_tick(index, min(due, size), args.repeat, seed=due) for due in dues]
        results.append({"open": size, "memory": memory, "tick": ticks})
        del index
        gc.collect()
    print(
        json.dumps(
            {
                "benchmark": "deadline index",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "open_deadline_per_s": round(opens_per_s),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
