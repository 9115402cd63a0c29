"""Signed agency clients of the demo directory, with their dev keys (tests only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from connectors.client import AgencyClient
from hub.agency_keys import dev_key_path, load_private_key
from hub.codec import Codec
from hub.directory import Directory
from hub.registry import SchemaRegistry
from hub.settings import HubSettings
from hub.signing import RecordSigner

ClientFactory = Callable[[str], Awaitable[AgencyClient]]


def signer_for(settings: HubSettings, agency_id: str) -> RecordSigner:
    """The dev-key signer of ``agency_id`` (its key id as the directory lists it)."""
    agency = Directory.load(settings.config_dir).get(agency_id)
    assert agency is not None, agency_id
    key = load_private_key(dev_key_path(settings.config_dir, agency_id))
    return RecordSigner.for_agency(agency, key)


async def start_client(settings: HubSettings, agency_id: str) -> AgencyClient:
    """A started client that signs as ``agency_id`` and verifies the hub's signature."""
    hub_key = (settings.config_dir / "hub-public-key.txt").read_text().strip()
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    client = AgencyClient(settings, agency_id, signer_for(settings, agency_id), codec, hub_key)
    await client.start()
    return client
