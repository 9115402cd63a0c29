"""Per-batch key durability, on the real broker: a record that references a case key never
reaches the broker before the key is in the journal on disk.

The worker is "killed" at the moment it makes the batch's new keys durable (its key store
raises before the journal write, so nothing of those keys survives). Whatever the worker had
already handed to its producer would still reach the broker when the producer stops, so if a
record were sent before the flush it would be found on the topics: none may be. A restarted
worker then reads the batch again (its offsets were never committed), and every key its
entries name opens from a fresh store reading the journal, as after a real restart.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from eventually import eventually
from flow_helpers import events_for
from worker_thread import AgencyFactory

from agents.io.reader import read_topics
from agents.router import Router
from agents.worker import run_worker
from hub.audit.keys import KEYS_DIRECTORY, FileKeyStore, decrypt_payload
from hub.contracts.codec import Codec
from hub.contracts.events import (
    ReferralOpened,
)
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, CASE_STATE
from hub.runtime.settings import HubSettings

CASES = 6
TIMEOUT_S = 60.0


class SimulatedKill(Exception):
    """The process dies here: nothing after this point happens."""


class KilledAtFlush(FileKeyStore):
    """A batched file store whose process dies when the batch's new keys are to be synced."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, defer_durability=True)
        self.killed_with: list[str] = []

    def flush(self) -> None:
        if self._pending:
            self.killed_with = [key_id for _case, key_id, _key in self._pending]
            raise SimulatedKill("killed before the journal write")
        super().flush()


async def run_until(
    settings: HubSettings, store: FileKeyStore | None
) -> tuple[asyncio.Task[Router], asyncio.Event, list[Router]]:
    stop, routers = asyncio.Event(), []
    task = asyncio.create_task(run_worker(settings, stop, key_store=store, on_ready=routers.append))
    await eventually(
        lambda: routers and routers[0].ready.is_set(), timeout_s=TIMEOUT_S, what="worker ready"
    )
    return task, stop, routers


async def entries_of(settings: HubSettings, codec: Codec, cases: set[uuid.UUID]) -> list[object]:
    """Every record of these cases on the audit log and the case-state changelog."""
    records = await read_topics(settings, [AUDIT.name, CASE_STATE.name])
    keys = {str(c).encode() for c in cases}
    return [
        codec.decode_event(r.value) if r.topic == AUDIT.name else r.value
        for r in records
        if r.key in keys and r.value is not None
    ]


async def test_no_record_naming_a_key_is_sent_before_the_key_is_durable(
    hub_settings: HubSettings, agency: AgencyFactory
) -> None:
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    keys_dir = hub_settings.data_dir / KEYS_DIRECTORY
    killed_store = KilledAtFlush(keys_dir)
    task, _stop, _routers = await run_until(hub_settings, killed_store)

    cases = {uuid.uuid4() for _ in range(CASES)}
    police = await agency("police-93")
    for case_id in cases:
        await police.publish(events_for(case_id)[ReferralOpened])
    await eventually(task.done, timeout_s=TIMEOUT_S, what="the worker killed at its key flush")
    assert isinstance(task.exception(), SimulatedKill)
    assert killed_store.killed_with, "the batch created keys, so the kill hit a real flush"

    assert await entries_of(hub_settings, codec, cases) == []  # nothing escaped the kill
    journal = FileKeyStore(keys_dir)
    assert all(journal.get(key_id) is None for key_id in killed_store.killed_with)

    task, stop, _routers = await run_until(hub_settings, None)  # the restart
    try:

        async def all_cases_audited() -> list[AuditEntry]:
            found = [
                e for e in await entries_of(hub_settings, codec, cases) if isinstance(e, AuditEntry)
            ]
            return found if {e.case_id for e in found if e.key_id} == cases else []

        entries = await eventually(all_cases_audited, timeout_s=TIMEOUT_S, what="re-read batch")
    finally:
        stop.set()
        await task
    restarted = FileKeyStore(keys_dir)  # what a crash right now would leave
    sealed = [e for e in entries if e.key_id and e.payload_ciphertext]
    assert sealed
    for entry in sealed:
        assert entry.key_id is not None
        assert entry.payload_ciphertext is not None
        key = restarted.get(entry.key_id)
        assert key is not None, f"entry {entry.case_id}/{entry.seq} names a key not on disk"
        decrypt_payload(key, entry.payload_ciphertext, case_id=entry.case_id, seq=entry.seq)
