"""Erasure commands written to ``nrm.erasure``, signed with the operator-action key: the one
writer for ``hub erase`` and the dashboard (``hub.trust.operator_actions``; the worker trusts
that key, or the hub's own, on that topic and refuses any other)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from agents.io import clients
from hub.contracts.codec import Codec
from hub.contracts.events import subject_of
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import ERASURE
from hub.runtime.settings import HubSettings
from hub.trust.operator_actions import operator_action_signer


async def publish_erasure_command(
    settings: HubSettings, event: BaseModel, case_id: uuid.UUID
) -> None:
    """Write ``event`` to ``nrm.erasure``, keyed by its case, signed with the operator-action
    key (``KeyFileError``, a ValueError, when the key cannot be read: nothing is written)."""
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    signer = operator_action_signer(
        settings.operator_action_key_path, settings.operator_action_key_id
    )
    value = codec.encode(subject_of(type(event)), event.model_dump())
    key = str(case_id).encode()
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            ERASURE.name, value, key=key, headers=signer.sign(ERASURE.name, key, value)
        )
    finally:
        await producer.stop()
