"""Publishing directory changes in tests: signed by the demo's directory authority key, as
``hub directory`` signs them (an unsigned change is refused by every reader)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from hub.contracts.codec import Codec
from hub.contracts.hub_records import (
    DirectoryEntry,
)
from hub.contracts.topics import DIRECTORY
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import load_private_key
from hub.trust.directory_authority import (
    authority_signer,
    configured_authority,
    sign_directory_record,
)
from hub.trust.signing import RecordSigner


async def publish_entry(
    producer: AIOKafkaProducer,
    codec: Codec,
    settings: HubSettings,
    entry: DirectoryEntry,
    *,
    signer: RecordSigner | None = None,
) -> None:
    """Write ``entry`` on the directory topic, signed by ``signer`` (the authority by default)."""
    value = codec.encode_event(entry)
    if signer is None:
        root = load_private_key(settings.directory_authority_key_path)
        signer = authority_signer(root, configured_authority(settings))
    key, headers = sign_directory_record(signer, entry, value)
    await producer.send_and_wait(DIRECTORY.name, value, key=key, headers=headers)
