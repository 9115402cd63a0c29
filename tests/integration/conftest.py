"""Fixtures for stream tests: every topic created, a routing worker, agency clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from worker_thread import AgencyFactory, WorkerThread

from connectors.client import AgencyClient
from connectors.client.dev import dev_client
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


@pytest.fixture(scope="session")
def hub_settings(settings: HubSettings, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    """Settings for the hub's own processes, with their own data directory."""
    data_dir = tmp_path_factory.mktemp("hub-data")
    hub = settings.model_copy(update={"data_dir": data_dir})
    directory = Directory.load(hub.config_dir)
    asyncio.run(create_topics(hub, all_topics(a.id for a in directory)))
    return hub


@pytest.fixture(scope="module")
def worker(hub_settings: HubSettings) -> Iterator[WorkerThread]:
    """One routing worker for the module's tests."""
    running = WorkerThread(hub_settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def agency(hub_settings: HubSettings) -> AsyncIterator[AgencyFactory]:
    """Start a signed client for an agency of the demo directory: ``await agency("police-93")``."""
    registry = SchemaRegistry.load(hub_settings.schemas_dir)
    directory = Directory.load(hub_settings.config_dir)
    started: list[AgencyClient] = []

    async def make(agency_id: str) -> AgencyClient:
        client = dev_client(hub_settings, agency_id, directory=directory, codec=Codec(registry))
        await client.start()
        started.append(client)
        return client

    yield make
    for client in started:
        await client.stop()
