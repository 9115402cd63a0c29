"""Attacks on the root of trust: the directory topic, which carries the agencies' keys.

Anyone who reaches the embedded broker's port can write on ``nrm.directory``. Before the
directory authority, writing an entry that added a key to police-93, then publishing a
``PermitRequested`` signed with that key, got the forgery routed to the prefecture (issue 21).
Here the same attack, written as the attacker would, on a real broker and a real worker: the
forged entries are refused (log, metric), and the record signed with the key they tried to
add is a BAD_SIGNATURE dead letter. A key added by the authority (``hub directory add-key``)
and a handed-over authority key work at runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from agency_clients import signer_for
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from directory_records import publish_entry
from eventually import consistently, eventually
from flow_helpers import (
    events_for,
    fresh,
    permit_chosen,
    prefecture_consent,
)
from typer.testing import CliRunner
from worker_thread import WorkerThread

from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    PermitRequested,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, inbox_topic, outbox_topic
from hub.rules.directory import Agency, Directory, SigningKey, entry_from_agency
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.trust.agency_keys import load_private_key, write_private_key
from hub.trust.directory_authority import DirectoryRefusal
from hub.trust.signing import RecordSigner, public_key_b64

runner = CliRunner()
POLICE = "police-93"
PREFECTURE = "prefecture-93"


@pytest.fixture(scope="module")
def worker(own_settings: HubSettings) -> Iterator[WorkerThread]:
    running = WorkerThread(own_settings, health=True).start()
    try:
        yield running
    finally:
        running.stop()


@contextlib.asynccontextmanager
async def started_producer(settings: HubSettings) -> AsyncIterator[AIOKafkaProducer]:
    started = AIOKafkaProducer(acks="all", **client_options(settings))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def producer(own_settings: HubSettings) -> AsyncIterator[AIOKafkaProducer]:
    async with started_producer(own_settings) as started:
        yield started


def codec_for(settings: HubSettings) -> Codec:
    return Codec(SchemaRegistry.load(settings.schemas_dir))


def police_with(settings: HubSettings, key: SigningKey) -> Agency:
    police = Directory.load(settings.config_dir).get(POLICE)
    assert police is not None
    return police.model_copy(update={"signing_keys": (*police.signing_keys, key)})


async def publish_permit(
    producer: AIOKafkaProducer, codec: Codec, signer: RecordSigner
) -> tuple[uuid.UUID, int, int]:
    """A PermitRequested from police-93's outbox signed by ``signer``: (event id, partition,
    offset)."""
    case_id = uuid.uuid4()
    permit = fresh(events_for(case_id)[PermitRequested], case_id)
    topic, key, value = outbox_topic(POLICE), str(case_id).encode(), codec.encode_event(permit)
    # the person's consent and recorded choice before the police's own request, same signer
    for before in (prefecture_consent(case_id), *permit_chosen(case_id)):
        earlier = codec.encode_event(before)
        await producer.send_and_wait(
            topic,
            earlier,
            key=key,
            partition=case_partition(case_id, 4),
            headers=signer.sign(topic, key, earlier),
        )
    sent = await producer.send_and_wait(
        topic,
        value,
        key=key,
        partition=case_partition(case_id, 4),
        headers=signer.sign(topic, key, value),
    )
    return permit.envelope.event_id, sent.partition, sent.offset


class Seen:
    """Dead letters and prefecture-93 deliveries, read from the start of both topics."""

    def __init__(self, settings: HubSettings, codec: Codec) -> None:
        self.codec = codec
        self.letters: list[DeadLetter] = []
        self.routed: set[uuid.UUID] = set()
        self.consumer = AIOKafkaConsumer(
            DEAD_LETTERS.name,
            inbox_topic(PREFECTURE),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **client_options(settings),
        )

    async def poll(self) -> None:
        for records in (await self.consumer.getmany(timeout_ms=200)).values():
            for record in records:
                event = self.codec.decode_event(record.value or b"")
                if isinstance(event, DeadLetter):
                    self.letters.append(event)
                else:
                    causation = getattr(getattr(event, "envelope", None), "causation_id", None)
                    if causation is not None:
                        self.routed.add(causation)

    def letter_for(self, partition: int, offset: int) -> DeadLetter | None:
        for letter in self.letters:
            if (letter.source_topic, letter.source_partition, letter.source_offset) == (
                outbox_topic(POLICE),
                partition,
                offset,
            ):
                return letter
        return None


@pytest.fixture
async def seen(own_settings: HubSettings) -> AsyncIterator[Seen]:
    watcher = Seen(own_settings, codec_for(own_settings))
    await watcher.consumer.start()
    yield watcher
    await watcher.consumer.stop()


def metric(worker: WorkerThread, name: str, reason: str) -> float:
    with urllib.request.urlopen(f"{worker.health_url}/metrics", timeout=5) as response:
        body = response.read().decode()
    prefix = f'{name}{{reason="{reason}"}} '
    for line in body.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


async def test_a_forged_directory_entry_does_not_let_its_key_speak_for_police(
    own_settings: HubSettings, worker: WorkerThread, producer: AIOKafkaProducer, seen: Seen
) -> None:
    codec = codec_for(own_settings)
    attacker = Ed25519PrivateKey.generate()
    attacker_key = SigningKey(key_id="police-93-evil", public_key=public_key_b64(attacker))
    forged = entry_from_agency(police_with(own_settings, attacker_key), datetime.now(UTC))
    router = worker.router
    assert router is not None

    # 1. Unsigned, as anyone on the port would write it.
    await producer.send_and_wait("nrm.directory", codec.encode_event(forged), key=POLICE.encode())
    # 2. Wrongly signed: by police-93's own (genuine) key, and by a stranger claiming the
    #    authority's key id.
    await publish_entry(
        producer, codec, own_settings, forged, signer=signer_for(own_settings, POLICE)
    )
    stranger = RecordSigner(Ed25519PrivateKey.generate(), own_settings.directory_authority_key_id)
    await publish_entry(producer, codec, own_settings, forged, signer=stranger)

    refused = router.directory.refused
    await eventually(
        lambda: sum(refused.values()) >= 3, timeout_s=15, what="the three forgeries refused"
    )
    assert refused[DirectoryRefusal.UNSIGNED] == 1
    assert refused[DirectoryRefusal.UNKNOWN_KEY] == 1
    assert refused[DirectoryRefusal.BAD_SIGNATURE] == 1
    assert metric(worker, "nrm_directory_refused_total", "UNSIGNED") == 1
    police = router.directory.current.get(POLICE)
    assert police is not None
    assert attacker_key.key_id not in {k.key_id for k in police.signing_keys}

    # 3. The forgery the entry was meant to enable: refused, never routed.
    event_id, partition, offset = await publish_permit(
        producer, codec, RecordSigner(attacker, attacker_key.key_id)
    )

    async def lettered() -> bool:
        await seen.poll()
        return seen.letter_for(partition, offset) is not None

    await eventually(lettered, timeout_s=15, what="the forged permit request dead-lettered")
    letter = seen.letter_for(partition, offset)
    assert letter is not None
    assert letter.reason is DeadLetterReason.BAD_SIGNATURE

    async def not_routed() -> bool:
        await seen.poll()
        return event_id not in seen.routed

    await consistently(not_routed, for_s=1.5, what="the forgery never reaching the prefecture")


async def test_a_key_added_by_the_authority_speaks_for_police_at_once(
    own_settings: HubSettings, worker: WorkerThread, producer: AIOKafkaProducer, seen: Seen
) -> None:
    codec = codec_for(own_settings)
    new_key = Ed25519PrivateKey.generate()
    added = await asyncio.to_thread(
        runner.invoke,
        app,
        ["directory", "add-key", POLICE, "police-93-2027-1", public_key_b64(new_key)],
        obj=own_settings,
    )
    assert added.exit_code == 0, added.output
    router = worker.router
    assert router is not None

    def key_applied() -> bool:
        police = router.directory.current.get(POLICE)
        return police is not None and "police-93-2027-1" in {k.key_id for k in police.signing_keys}

    await eventually(key_applied, timeout_s=15, what="the authority's add-key applied")
    shown = await asyncio.to_thread(
        runner.invoke, app, ["directory", "show", POLICE, "--json"], obj=own_settings
    )
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    (police,) = body["agencies"]
    assert "police-93-2027-1" in {k["key_id"] for k in police["signing_keys"]}
    assert "police-93-evil" not in {k["key_id"] for k in police["signing_keys"]}
    # The command reads the topic as the worker does: the same refusals (the forgeries of the
    # test above, when it ran first).
    assert body["refused"] == {str(k): v for k, v in router.directory.refused.items()}
    event_id, _, _ = await publish_permit(
        producer, codec, RecordSigner(new_key, "police-93-2027-1")
    )

    async def routed() -> bool:
        await seen.poll()
        return event_id in seen.routed

    await eventually(routed, timeout_s=15, what="the permit signed with the new key routed")


async def test_the_authority_hands_over_to_a_new_key_and_the_old_one_is_refused(
    own_settings: HubSettings, worker: WorkerThread, tmp_path: Path
) -> None:
    # Last in the module: after it, the root key no longer signs anything here.
    new_authority = Ed25519PrivateKey.generate()
    new_path = tmp_path / "authority-2027.pem"
    write_private_key(new_path, new_authority)
    rotated = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "directory",
            "rotate-authority",
            "authority-2027-1",
            public_key_b64(new_authority),
            "--yes",
        ],
        obj=own_settings,
    )
    assert rotated.exit_code == 0, rotated.output
    router = worker.router
    assert router is not None
    refused = router.directory.refused
    before = refused.get(DirectoryRefusal.UNKNOWN_KEY, 0)

    # The retired key revokes police-93's new key: the command refuses to sign with it, and
    # the same change written straight to the topic (a leaked old key) is refused by the worker.
    old = await asyncio.to_thread(
        runner.invoke,
        app,
        ["directory", "revoke-key", POLICE, "police-93-2027-1", "--yes"],
        obj=own_settings,
    )
    assert old.exit_code == 2, old.output
    assert "pas la clé actuelle de l'autorité de l'annuaire" in old.output
    police = router.directory.current.get(POLICE)
    assert police is not None
    retired = RecordSigner(
        load_private_key(own_settings.directory_authority_key_path),
        own_settings.directory_authority_key_id,
    )
    stripped = police.model_copy(update={"signing_keys": police.signing_keys[:1]})
    async with started_producer(own_settings) as producer:
        await publish_entry(
            producer,
            codec_for(own_settings),
            own_settings,
            entry_from_agency(stripped, datetime.now(UTC)),
            signer=retired,
        )
    await eventually(
        lambda: refused.get(DirectoryRefusal.UNKNOWN_KEY, 0) > before,
        timeout_s=15,
        what="the retired authority key refused",
    )
    # The new authority's key does it: applied.
    police = router.directory.current.get(POLICE)
    assert police is not None
    assert "police-93-2027-1" in {k.key_id for k in police.signing_keys}
    new = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "directory",
            "revoke-key",
            POLICE,
            "police-93-2027-1",
            "--authority-key",
            str(new_path),
            "--yes",
        ],
        obj=own_settings,
    )
    assert new.exit_code == 0, new.output

    def revoked() -> bool:
        current = router.directory.current.get(POLICE)
        return current is not None and "police-93-2027-1" not in {
            k.key_id for k in current.signing_keys
        }

    await eventually(revoked, timeout_s=15, what="the new authority's change applied")

    # `hub directory set` replaces a whole agency from a file, signed by the new authority.
    current = router.directory.current.get(POLICE)
    assert current is not None
    agency_file = tmp_path / "police-93.yaml"
    agency_file.write_text(
        yaml.safe_dump(current.model_copy(update={"accepting": False}).model_dump(mode="json"))
    )
    closed = await asyncio.to_thread(
        runner.invoke,
        app,
        ["directory", "set", str(agency_file), "--authority-key", str(new_path), "--yes"],
        obj=own_settings,
    )
    assert closed.exit_code == 0, closed.output

    def police_closed() -> bool:
        police = router.directory.current.get(POLICE)
        return police is not None and not police.accepting

    await eventually(police_closed, timeout_s=15, what="the agency file applied")
