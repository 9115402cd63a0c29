"""Stock Confluent clients read hub topics unchanged, through the embedded registry's REST API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import DeserializingConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from eventually import eventually

from connectors.registry_api import create_registry_app
from connectors.serving import BackgroundServer
from hub.contracts.codec import Codec
from hub.contracts.events import subject_of
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import TopicSpec
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


@pytest.fixture(scope="module")
def registry_server(registry: SchemaRegistry) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_registry_app(registry)) as server:
        yield server


async def test_confluent_avro_deserializer_reads_what_the_hub_wrote(
    settings: HubSettings, registry: SchemaRegistry, registry_server: BackgroundServer
) -> None:
    topic = f"test.interop.{uuid.uuid4().hex[:8]}"
    await create_topics(settings, [TopicSpec(name=topic, partitions=1, purpose="test")])
    codec = Codec(registry)
    events = [event for _agency, event in example_events()]
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, codec.encode_event(event))
    finally:
        await producer.stop()

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_server.url}))
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "value.deserializer": deserializer,
        }
    )
    consumer.subscribe([topic])
    received = []

    async def all_received() -> bool:
        message = await asyncio.to_thread(consumer.poll, 0.1)
        if message is not None and message.error() is None:
            received.append(message.value())
        return len(received) >= len(events)

    try:
        await eventually(
            all_received,
            timeout_s=30,
            interval_s=0.01,
            max_interval_s=0.01,  # one message a poll: poll again at once
            what=f"{len(events)} messages through the registry",
        )
    finally:
        consumer.close()
    expected = [codec.decode(codec.encode_event(event)).record for event in events]
    assert received == expected


def test_registry_serves_schemas_by_committed_id(
    registry: SchemaRegistry, registry_server: BackgroundServer
) -> None:
    client = SchemaRegistryClient({"url": registry_server.url})
    for _agency, event in example_events():
        registered = registry.latest(subject_of(type(event)))
        served = client.get_schema(registered.schema_id)
        assert served.schema_str == registered.text
        found = client.lookup_schema(registered.subject, served)
        assert found.schema_id == registered.schema_id
        assert found.version == registered.version


def test_registry_answers_what_it_does_not_serve_with_json_404(
    registry_server: BackgroundServer,
) -> None:
    for path in (
        "/associations/resources/-/nrm.audit?resourceType=topic",
        "/schemas/ids/999999?subject=nrm.audit-value",
        "/subjects/no.such.Subject/versions/latest",
        "/no/such/route",
    ):
        response = httpx.get(registry_server.url + path)
        assert response.status_code == 404, path
        body = response.json()
        assert body["error_code"] in {40401, 40402, 40403}, path
        assert body["message"]


def test_registry_refuses_runtime_registration_of_a_new_schema(
    registry_server: BackgroundServer,
) -> None:
    schema = '{"type":"record","name":"fr.nrm.Rogue","fields":[{"name":"a","type":"string"}]}'
    response = httpx.post(
        registry_server.url + "/subjects/fr.nrm.Rogue/versions", json={"schema": schema}
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == 42205
