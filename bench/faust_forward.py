"""A plain Faust agent that forwards raw bytes: what a user would otherwise write.

Run by bench/pipeline.py as ``faust -A bench.faust_forward worker --without-web``, with
BENCH_BROKER, BENCH_IN, BENCH_OUT, BENCH_READS and BENCH_WRITES in the environment. It writes
BENCH_WRITES records per BENCH_READS records read, spread evenly, as the hub writes per
referral, so the comparison is like for like.
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    "bench-faust-forward",
    broker=f"kafka://{os.environ.get('BENCH_BROKER', '127.0.0.1:9092')}",
    value_serializer="raw",
    key_serializer="raw",
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    web_enabled=False,
    web_bind="127.0.0.1",
    topic_partitions=4,
    topic_allow_declare=False,
    store="memory://",
)
source = app.topic(os.environ.get("BENCH_IN", "bench.in"), value_type=bytes, key_type=bytes)
sink = app.topic(os.environ.get("BENCH_OUT", "bench.out"), value_type=bytes, key_type=bytes)
READS = int(os.environ.get("BENCH_READS", "1"))
WRITES = int(os.environ.get("BENCH_WRITES", "1"))


@app.agent(source)
async def forward(stream: faust.Stream[bytes]) -> None:
    """Forward every record, unchanged, WRITES times per READS records (one agent, so one
    count of what was read)."""
    reads = 0
    async for event in stream.events():
        for _ in range((reads + 1) * WRITES // READS - reads * WRITES // READS):
            await sink.send(key=event.key, value=event.value)
        reads += 1
