"""`make demo`: the hub's main job on the embedded broker, narrated.

Today it shows the foundation end to end: it starts the embedded broker, creates every
declared topic, publishes one event of each type to its sender's outbox as Confluent-framed
Avro, reads them back through a consumer group, decodes them, and stops the broker. Later
steps (routing, deadlines, audit, gateway, dashboard) extend this same story.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hub.broker import EmbeddedBroker
from hub.codec import Codec
from hub.events import subject_of
from hub.examples import HUB, example_events
from hub.kafka_options import client_options, consumer_group_options
from hub.registry import SchemaRegistry
from hub.settings import HubSettings, get_settings
from hub.topics import (
    AUDIT,
    DEAD_LETTERS,
    ESCALATIONS,
    all_topics,
    create_topics,
    outbox_topic,
)

log = structlog.get_logger(__name__)
READ_BACK_TIMEOUT_S = 30.0


async def run_demo(console: Console, *, serve: bool = False) -> int:
    """Run the narrated demo; return the process exit status."""
    started = time.monotonic()
    base = get_settings()
    registry = SchemaRegistry.load(base.schemas_dir)
    codec = Codec(registry, max_record_bytes=base.max_record_bytes)
    examples = example_events()
    agencies = sorted({sender for sender, _event in examples if sender != HUB})

    console.rule("[bold]NRM Hub — démonstration")
    console.print(
        f"{len(registry.subjects())} event types in the registry "
        f"({len(list(registry))} schema ids, committed in schemas/)"
    )
    with EmbeddedBroker() as broker:
        settings = base.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        console.print(f"embedded broker on [bold]{broker.bootstrap_servers}[/] (pid {broker.pid})")
        created = await create_topics(settings, all_topics(agencies))
        console.print(f"created {len(created)} topics for {len(agencies)} agencies")

        await _publish(settings, codec, examples)
        console.print(
            f"published {len(examples)} events, one of each type: agencies' to their outboxes, "
            "the hub's to its own topics"
        )

        topics = sorted({_topic_of(sender, event) for sender, event in examples})
        received = await _read_back(settings, codec, topics, len(examples))
        console.print(_table(received))
        missing = len(examples) - len(received)
        if missing:
            console.print(f"[bold red]{missing} event(s) not read back[/]")
            return 1
        if serve:
            console.print(f"broker stays up on {broker.bootstrap_servers}: Ctrl-C stops it")
            await _wait_forever()
    console.print(f"[green]done[/] in {time.monotonic() - started:.1f} s; broker stopped")
    return 0


def _topic_of(sender: str, event: BaseModel) -> str:
    """Agencies publish to their outbox; the hub's own events go to the hub's topics."""
    if sender != HUB:
        return outbox_topic(sender)
    hub_topics = {"Escalation": ESCALATIONS, "DeadLetter": DEAD_LETTERS, "AuditEntry": AUDIT}
    return hub_topics[type(event).__name__].name


async def _publish(
    settings: HubSettings, codec: Codec, examples: list[tuple[str, BaseModel]]
) -> None:
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for sender, event in examples:
            case_id = getattr(getattr(event, "envelope", event), "case_id", None)
            key = str(case_id).encode() if case_id else None
            frame = codec.encode_event(event)
            await producer.send_and_wait(_topic_of(sender, event), frame, key=key)
    finally:
        await producer.stop()


async def _read_back(
    settings: HubSettings, codec: Codec, topics: list[str], expected: int
) -> list[tuple[str, int, int, BaseModel]]:
    consumer = AIOKafkaConsumer(
        *topics,
        group_id="nrm-demo-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(settings),
        **consumer_group_options(settings),
    )
    await consumer.start()
    received: list[tuple[str, int, int, BaseModel]] = []
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    try:
        while len(received) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    received.append(
                        (
                            record.topic,
                            record.partition,
                            record.offset,
                            codec.decode_event(record.value),
                        )
                    )
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


def _table(received: list[tuple[str, int, int, BaseModel]]) -> Table:
    table = Table(title="Events read back from the broker, decoded")
    for column in ("topic", "partition", "offset", "event type", "case"):
        table.add_column(column)
    for topic, partition, offset, event in sorted(received, key=lambda r: (r[0], r[1], r[2])):
        case_id = getattr(getattr(event, "envelope", event), "case_id", "-")
        table.add_row(
            topic,
            str(partition),
            str(offset),
            subject_of(type(event)).removeprefix("fr.nrm."),
            str(case_id)[:8],
        )
    return table


async def _wait_forever() -> None:
    await asyncio.Event().wait()  # until the process is interrupted
