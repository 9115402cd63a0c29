"""Signed agency clients of the demo directory, with their dev keys (tests only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from connectors.client import AgencyClient
from connectors.client.dev import dev_client
from connectors.client.dev import dev_signer as signer_for
from hub.runtime.settings import HubSettings

__all__ = ["ClientFactory", "signer_for", "start_client"]

ClientFactory = Callable[[str], Awaitable[AgencyClient]]


async def start_client(settings: HubSettings, agency_id: str) -> AgencyClient:
    """A started client that signs as ``agency_id`` and verifies the hub's signature."""
    client = dev_client(settings, agency_id)
    await client.start()
    return client
