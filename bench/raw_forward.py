"""The hub's I/O without the hub: a bare aiokafka loop the soak can run instead of ``hub worker``.

It reads the soak's two outboxes (police-93's requests, prefecture-93's answers) in one
consumer group and, per record, writes what the hub writes per event: the record itself to the
other agency's inbox, four copies to ``nrm.audit`` and one to the case-state changelog, all
keyed by the case, then commits once every write is acknowledged. No decoding, no signatures,
no decisions. Whatever grows in a soak of this loop grows in the broker, not in the hub.

    HUB_BOOTSTRAP_SERVERS=127.0.0.1:PORT .venv/bin/python bench/raw_forward.py
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.structs import TopicPartition  # noqa: E402

from hub.contracts.topics import AUDIT, CASE_STATE, inbox_topic, outbox_topic  # noqa: E402
from hub.runtime.kafka_options import client_options, consumer_group_options  # noqa: E402
from hub.runtime.settings import HubSettings  # noqa: E402

ROUTES = {outbox_topic("police-93"): "prefecture-93", outbox_topic("prefecture-93"): "police-93"}
AUDIT_COPIES = 4


async def forward(settings: HubSettings, stop: asyncio.Event) -> None:
    """Forward until ``stop`` is set; print ``raw_forward.assigned`` once the group is joined."""
    producer = AIOKafkaProducer(acks="all", linger_ms=2, **client_options(settings))
    consumer = AIOKafkaConsumer(
        *ROUTES,
        group_id="raw-forward",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
        **client_options(settings),
        **consumer_group_options(settings),
    )
    await producer.start()
    await consumer.start()
    announced = False
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if consumer.assignment() and not announced:
                print('{"event": "raw_forward.assigned"}', flush=True)
                announced = True
            futures = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for record in records:
                    inbox = inbox_topic(ROUTES[record.topic])
                    headers = list(record.headers)
                    writes = [(inbox, headers)] + [(AUDIT.name, [])] * AUDIT_COPIES
                    writes.append((CASE_STATE.name, []))
                    for topic, with_headers in writes:
                        futures.append(
                            await producer.send(
                                topic, record.value, key=record.key, headers=with_headers
                            )
                        )
                    offsets[tp] = record.offset + 1
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit(offsets)
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    settings = HubSettings()
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await forward(settings, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
