"""Fixtures for the reliability suite: a broker of its own per module, agency clients, and a
JSON report of each test's figures (collected by ``bench/reliability.py``).

These tests kill workers, stop brokers and count every record on the topics, so each module
runs on a broker of its own: counts are exact, and the session broker the other tests share
stays small. The worker helpers are the integration suite's (one way to run a worker).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from agency_clients import ClientFactory, start_client
from figures import Report, write_report

from connectors.client import AgencyClient
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A memory-storage broker for this module only, stopped at its end."""
    log_path = tmp_path_factory.mktemp("reliability-broker") / "tansu.log"
    broker = EmbeddedBroker(log_path=log_path).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def own_settings(
    own_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> HubSettings:
    """Settings on the module's broker, every topic created, a data directory of its own."""
    settings = HubSettings(
        bootstrap_servers=own_broker.bootstrap_servers,
        data_dir=tmp_path_factory.mktemp("reliability-data"),
    )
    directory = Directory.load(settings.config_dir)
    asyncio.run(create_topics(settings, all_topics(a.id for a in directory)))
    return settings


@pytest.fixture
async def clients(own_settings: HubSettings) -> AsyncIterator[ClientFactory]:
    """Signed agency clients on the module's broker, stopped after the test."""
    started: list[AgencyClient] = []

    async def make(agency_id: str) -> AgencyClient:
        client = await start_client(own_settings, agency_id)
        started.append(client)
        return client

    yield make
    for client in started:
        await client.stop()


@pytest.fixture
def report() -> Report:
    """Print a test's figures as one JSON line, and append it to $NRM_RELIABILITY_REPORT."""
    return write_report
