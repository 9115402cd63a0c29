"""Latency publish → recipient inbox at a paced rate: the hub, and the floor the embedded
broker sets on the same topics without the hub.

* ``latency``        the story's requests paced at ``rate``/s through ``hub worker``;
* ``latency_floor``  the same requests through a bare aiokafka forwarder subscribed to every
                     agency outbox like the worker (the same partitions fetched), writing each
                     record once to the recipient's inbox: what the broker and the clients cost
                     without the hub's work.

Both report p50/p99/max and the CPU the worker (or forwarder) and this process's inbox reader
burn idle afterwards at the chosen ``fetch_max_wait_ms``. Run through bench/pipeline.py
(``--scenarios latency,latency_floor``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.router import OUTBOX_PATTERN  # noqa: E402
from bench.story import (  # noqa: E402
    CHOICE_RECIPIENT,
    RECIPIENT,
    SENDER,
    before_request,
    hub_topics,
    permit_requests,
    publish,
    with_consents,
)
from bench.worker_process import count_until, cpu_seconds, hub_worker  # noqa: E402
from hub.contracts.codec import Codec  # noqa: E402
from hub.contracts.events import PermitRequested  # noqa: E402
from hub.contracts.topics import inbox_topic, outbox_topic  # noqa: E402
from hub.runtime.broker import EmbeddedBroker  # noqa: E402
from hub.runtime.kafka_options import client_options, consumer_group_options  # noqa: E402
from hub.runtime.settings import HubSettings, get_settings  # noqa: E402
from hub.trust.signing import RecordSigner  # noqa: E402

IDLE_S = 10.0
"""How long a latency scenario watches the forwarding process and its own clients idle."""


async def latency(rate: int, seconds: int, fetch_wait_ms: int | None = None) -> dict[str, Any]:
    """The hub: the stories' consents and choices published first and drained, then the
    police's requests paced at ``rate``/s for ``seconds`` through ``hub worker`` (every
    consumer, the worker's and the inbox reader here, on ``fetch_wait_ms``: the setting's
    default if None)."""
    with EmbeddedBroker() as running:
        settings = _settings(running, fetch_wait_ms)
        codec, signer = await hub_topics(settings)
        events = permit_requests(rate * seconds)
        backlog = [record for e in events for record in before_request(e)]
        await publish(settings, codec, backlog, outbox_topic(SENDER), signer)
        with hub_worker(settings, verify=True) as worker:

            async def ready(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
                await warm_up(producer, consumer, codec, signer)
                # Every partition's backlog drained (one récépissé request per choice, the
                # warm-up's included): otherwise the first paced requests wait behind it and
                # the figures measure the backlog, not the hub.
                await count_until(
                    settings, inbox_topic(CHOICE_RECIPIENT), len(events) + 1, worker.process
                )

            return await _paced(settings, codec, signer, events, rate, ready, worker.process.pid)


async def latency_floor(
    rate: int, seconds: int, fetch_wait_ms: int | None = None
) -> dict[str, Any]:
    """The same paced requests through a bare forwarder fetching the worker's partitions."""
    with EmbeddedBroker() as running:
        settings = _settings(running, fetch_wait_ms)
        codec, signer = await hub_topics(settings)
        events = permit_requests(rate * seconds)
        stop = asyncio.Event()
        joined = asyncio.Event()
        forwarder = asyncio.create_task(_forward(settings, stop, joined))

        async def ready(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
            await asyncio.wait_for(joined.wait(), 60)
            await warm_up(producer, consumer, codec, signer)

        try:
            return await _paced(settings, codec, signer, events, rate, ready, None)
        finally:
            stop.set()
            await forwarder


def _settings(running: EmbeddedBroker, fetch_wait_ms: int | None) -> HubSettings:
    settings = get_settings().model_copy(update={"bootstrap_servers": running.bootstrap_servers})
    if fetch_wait_ms is not None:
        settings = settings.model_copy(update={"fetch_max_wait_ms": fetch_wait_ms})
    return settings


async def _forward(settings: HubSettings, stop: asyncio.Event, joined: asyncio.Event) -> None:
    """Consume every outbox as the worker does, write each record once to the recipient's
    inbox, commit the moved offsets once acknowledged; until ``stop``."""
    consumer = AIOKafkaConsumer(
        group_id="latency-floor",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(settings),
        **consumer_group_options(settings),
    )
    producer = AIOKafkaProducer(acks="all", linger_ms=2, **client_options(settings))
    await consumer.start()
    await producer.start()
    consumer.subscribe(pattern=OUTBOX_PATTERN)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            if consumer.assignment():
                joined.set()
            futures = [
                await producer.send(
                    inbox_topic(RECIPIENT), r.value, key=r.key, headers=list(r.headers)
                )
                for records in batch.values()
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs})
    finally:
        await consumer.stop()
        await producer.stop()


async def _paced(
    settings: HubSettings,
    codec: Codec,
    signer: RecordSigner,
    events: list[PermitRequested],
    rate: int,
    ready: Callable[[AIOKafkaProducer, AIOKafkaConsumer], Awaitable[None]],
    forwarder_pid: int | None,
) -> dict[str, Any]:
    """Publish ``events`` at ``rate``/s once ``ready``; p50/p99 publish → recipient inbox,
    then the idle CPU of the forwarding process (``forwarder_pid``; None: this one, which
    then counts as the client) and of this process's inbox reader."""
    consumer = AIOKafkaConsumer(
        inbox_topic(RECIPIENT),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # The hub's own wait: the default 500 ms is held in full by the embedded broker
        # and put ~250 ms of the benchmark's own on every measurement.
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **client_options(settings),
    )
    producer = AIOKafkaProducer(linger_ms=0, **client_options(settings))
    await consumer.start()
    await producer.start()
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    try:
        await ready(producer, consumer)
        topic = outbox_topic(SENDER)

        async def pace() -> None:
            started = time.perf_counter()
            for index, event in enumerate(events):
                await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                key = str(event.envelope.case_id).encode()
                value = codec.encode_event(event)
                headers = signer.sign(topic, key, value)
                sent[str(event.request_id)] = time.perf_counter()
                await producer.send(topic, value, key=key, headers=headers)

        async def collect() -> None:
            deadline = time.monotonic() + len(events) / rate + 60
            while len(received) < len(events) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        # the floor forwards the warm-up's consent and choice too
                        request = codec.decode(record.value).record.get("request_id")
                        if request is not None:
                            received.setdefault(str(request), now)

        await asyncio.gather(pace(), collect())
        # Idle: the forwarder's fetch loop and this process's inbox reader keep polling.
        mine_before = time.process_time()
        other_before = cpu_seconds(forwarder_pid) if forwarder_pid else 0.0
        await idle_reader(consumer, IDLE_S)
        idle = {"client": (time.process_time() - mine_before) / IDLE_S}
        if forwarder_pid:
            idle["worker"] = (cpu_seconds(forwarder_pid) - other_before) / IDLE_S
    finally:
        await producer.stop()
        await consumer.stop()
    delays = sorted((received[k] - sent[k]) * 1000 for k in received if k in sent)
    return {
        "rate_per_s": rate,
        "seconds": round(len(events) / rate),
        "sent": len(sent),
        "received": len(delays),
        "p50_ms": round(statistics.median(delays), 2) if delays else None,
        "p99_ms": round(delays[int(len(delays) * 0.99) - 1], 2) if delays else None,
        "max_ms": round(delays[-1], 2) if delays else None,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "idle_cpu_cores": {name: round(value, 4) for name, value in idle.items()},
    }


async def idle_reader(consumer: AIOKafkaConsumer, seconds: float) -> None:
    """Keep polling the inbox for ``seconds``, as a recipient waiting for news would."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=50)


async def warm_up(
    producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, codec: Codec, signer: RecordSigner
) -> None:
    """Send one request and wait for it, so the worker's group join is not measured."""
    (event,) = permit_requests(1)
    topic = outbox_topic(SENDER)
    key = str(event.envelope.case_id).encode()
    for record in with_consents([event]):
        value = codec.encode_event(record)
        await producer.send_and_wait(topic, value, key=key, headers=signer.sign(topic, key, value))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200)
        if any(batch.values()):
            return
