"""Fixtures for stream tests: every topic created, a routing worker, agency clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from worker_thread import AgencyFactory, WorkerThread

from connectors.client import AgencyClient
from hub.agency_keys import dev_key_path, load_private_key
from hub.codec import Codec
from hub.directory import Directory
from hub.registry import SchemaRegistry
from hub.settings import HubSettings
from hub.signing import RecordSigner
from hub.topics import all_topics, create_topics


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
    hub_key = (hub_settings.config_dir / "hub-public-key.txt").read_text().strip()
    started: list[AgencyClient] = []

    async def make(agency_id: str) -> AgencyClient:
        record = directory.get(agency_id)
        assert record is not None, agency_id
        key = load_private_key(dev_key_path(hub_settings.config_dir, agency_id))
        client = AgencyClient(
            hub_settings, agency_id, RecordSigner.for_agency(record, key), Codec(registry), hub_key
        )
        await client.start()
        started.append(client)
        return client

    yield make
    for client in started:
        await client.stop()
