"""Clients for the demo's simulated agencies, signing with their committed DEMO keys."""

from __future__ import annotations

from pathlib import Path

from connectors.client.kafka_client import AgencyClient
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

HUB_PUBLIC_KEY_FILE = "hub-public-key.txt"


def dev_client(
    settings: HubSettings,
    agency_id: str,
    *,
    directory: Directory | None = None,
    codec: Codec | None = None,
    group_id: str | None = None,
    seen_path: Path | None = None,
) -> AgencyClient:
    """An (unstarted) client for a directory agency, with its demo key from
    ``deploy/config/dev-keys`` and the hub's public key to verify deliveries
    (``group_id`` and ``seen_path`` as for ``AgencyClient``)."""
    hub_key = (settings.config_dir / HUB_PUBLIC_KEY_FILE).read_text().strip()
    return AgencyClient(
        settings,
        agency_id,
        dev_signer(settings, agency_id, directory=directory),
        codec or Codec(SchemaRegistry.load(settings.schemas_dir)),
        hub_key,
        group_id=group_id,
        seen_path=seen_path,
    )


def dev_signer(
    settings: HubSettings, agency_id: str, *, directory: Directory | None = None
) -> RecordSigner:
    """The signer of a directory agency with its demo key (under the key id the directory
    lists)."""
    directory = directory or Directory.load(settings.config_dir)
    agency = directory.get(agency_id)
    if agency is None:
        raise LookupError(f"{agency_id} is not in the directory")
    return RecordSigner.for_agency(
        agency, load_private_key(dev_key_path(settings.config_dir, agency_id))
    )
