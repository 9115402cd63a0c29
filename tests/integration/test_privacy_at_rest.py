"""Personal data at rest (issue 23, items 2 and 3), on the real broker.

A case with a held request, an open request, a dead letter and a re-drive: a plain consumer
that reads every record of the changelog, the dead letters, the re-drives and the audit log
finds none of the person's fields in clear, even while the case is live. The case is closed,
its closure handled by a worker whose clock reads two years and a day ago (so that is its last
contact); back in the present ``hub retention run`` has the worker destroy its key: then
nothing of the case decrypts anywhere, the chain still verifies, and replay says why. The
topics carry the retention the schedule gives them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventually import eventually
from flow_helpers import (
    events_for,
    fresh,
    permit_chosen,
    prefecture_consent,
    received_for,
)
from typer.testing import CliRunner
from worker_thread import AgencyFactory, TravelClock, WorkerThread

from agents.io.case_store import read_case
from agents.io.reader import read_topics
from agents.redrive import list_dead_letters, read_letters, redrive
from hub.audit.keys import KeyStore, PayloadUnreadableError, decrypt_payload, default_key_store
from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    CaseClosed,
    PermitRequested,
    ReferralOpened,
    SupportRequested,
)
from hub.contracts.examples import example_person
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, CASE_STATE, DEAD_LETTERS, REDRIVE, inbox_topic, outbox_topic
from hub.flow.case_record import Personal, decode_state
from hub.flow.case_state import CaseState
from hub.flow.expiry import EXPIRED
from hub.flow.sealed_letters import OriginalUnavailableError, open_original
from hub.runtime.kafka_options import client_options
from hub.runtime.retention import DAY_MS, RetentionSchedule
from hub.runtime.settings import HubSettings
from hub.trust.signing import RecordSigner

pytestmark = pytest.mark.usefixtures("worker")
runner = CliRunner()
TRAVEL = TravelClock()


@pytest.fixture(scope="module")
def worker(hub_settings: HubSettings) -> Iterator[WorkerThread]:
    """This module's worker runs on ``TRAVEL``, which a test may set years back."""
    running = WorkerThread(hub_settings, clock=TRAVEL).start()
    try:
        yield running
    finally:
        TRAVEL.offset = timedelta(0)
        running.stop()


STORED = (CASE_STATE.name, DEAD_LETTERS.name, REDRIVE.name, AUDIT.name)


def personal_fields(token: str) -> dict[str, str]:
    """Fields of one person, each unique to this test run (so any hit is this case's)."""
    return {
        "first_name": f"Prénom{token}",
        "last_name": f"Nom{token}",
        "phone": f"+33 7 {token}",
        "address": f"rue {token}, Saint-Denis",
        "health_needs": f"suivi {token}",
        "person_ref": f"P-{token}",
    }


async def raw_hits(settings: HubSettings, needles: list[bytes]) -> dict[str, list[bytes]]:
    """What a plain consumer finds, topic by topic: every needle seen in any record's bytes."""
    found: dict[str, list[bytes]] = {}
    for record in await read_topics(settings, STORED):
        blob = (record.key or b"") + (record.value or b"")
        blob += b"".join(value or b"" for _name, value in record.headers)
        hits = [n for n in needles if n in blob]
        if hits:
            found.setdefault(record.topic, []).extend(hits)
    return found


async def case_records(
    settings: HubSettings, codec: Codec, case_id: uuid.UUID
) -> tuple[list[bytes], list[DeadLetter], list[AuditEntry]]:
    """The case's changelog values, dead letters and re-drives, and audit entries."""
    states, letters, entries = [], [], []
    for record in await read_topics(settings, STORED):
        if record.topic == CASE_STATE.name and record.key == str(case_id).encode():
            states.append(record.value or b"")
        elif record.topic in {DEAD_LETTERS.name, REDRIVE.name}:
            letter = codec.decode_event(record.value or b"")
            if isinstance(letter, DeadLetter) and letter.case_id == case_id:
                letters.append(letter)
        elif record.topic == AUDIT.name and record.key == str(case_id).encode():
            entry = codec.decode_event(record.value or b"")
            assert isinstance(entry, AuditEntry)
            entries.append(entry)
    return states, letters, entries


def readable(
    keys: KeyStore,
    states: list[bytes],
    letters: list[DeadLetter],
    entries: list[AuditEntry],
) -> list[str]:
    """Which stored copies still open with the key store."""
    opened = [
        f"state {i}"
        for i, v in enumerate(states)
        if decode_state(v, keys).personal is Personal.OPENED
    ]
    for letter in letters:
        try:
            open_original(letter, keys)
            opened.append(f"letter {letter.dead_letter_id}")
        except OriginalUnavailableError:
            pass
    for entry in entries:
        key = keys.get(entry.key_id) if entry.key_id else None
        if key is None or entry.payload_ciphertext is None:
            continue
        try:
            decrypt_payload(key, entry.payload_ciphertext, case_id=entry.case_id, seq=entry.seq)
            opened.append(f"audit seq {entry.seq}")
        except PayloadUnreadableError:
            pass
    return opened


async def badly_signed(settings: HubSettings, codec: Codec, event: PermitRequested) -> None:
    """The police outbox receives the event signed by a key the directory does not know."""
    case_key = str(event.envelope.case_id).encode()
    value = codec.encode_event(event)
    topic = outbox_topic("police-93")
    signer = RecordSigner(Ed25519PrivateKey.generate(), "police-93-stolen")
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=case_key, headers=signer.sign(topic, case_key, value)
        )
    finally:
        await producer.stop()


def cli(settings: HubSettings, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), obj=settings)
    return result.exit_code, result.output


async def test_no_copy_of_a_case_is_readable_once_its_key_is_destroyed(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    keys = default_key_store(hub_settings.data_dir)
    token = uuid.uuid4().hex[:12]
    fields = personal_fields(token)
    needles = [value.encode() for value in fields.values()] + [token.encode()]
    person = example_person().model_copy(update=fields)
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    association = await agency("association-93")

    # An open request (the prefecture owes an answer) and a held one (no consent yet).
    await police.publish(fresh(story[ReferralOpened], case_id, person=person))
    permit = fresh(story[PermitRequested], case_id, person=person, request_id=uuid.uuid4())
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id, person):  # her choice raises the permit request
        await police.publish(event)
    await police.publish(fresh(story[SupportRequested], case_id, person=person))
    assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1

    async def live_state() -> CaseState | None:
        state = await read_case(hub_settings, case_id)
        return state if state is not None and state.holds and state.requests else None

    state = await eventually(live_state, timeout_s=20, what="a held and an open request")
    assert person.first_name in state.holds[0].record_json  # the sealed copy opens

    # Two dead letters, both sealed under the case key: a stolen signing key (never
    # re-driven: no fix outside the record can help) and an indicator code outside the grid,
    # re-driven: the worker opens the sealed original and refuses it again, which makes a
    # third dead letter.
    await badly_signed(hub_settings, codec, fresh(permit, case_id, request_id=uuid.uuid4()))

    async def letters(reason: DeadLetterReason, count: int) -> list[DeadLetter] | None:
        found = [
            d
            for d in await list_dead_letters(hub_settings)
            if d.case_id == case_id and d.reason is reason
        ]
        return found if len(found) >= count else None

    [forged] = await eventually(
        lambda: letters(DeadLetterReason.BAD_SIGNATURE, 1), timeout_s=20, what="the forgery"
    )
    assert person.last_name.encode() in open_original(forged, keys)
    outside_grid = fresh(story[ReferralOpened], case_id, person=person)
    await police.publish(outside_grid.model_copy(update={"indicator_codes": ["NOT-IN-GRID"]}))
    unknown = DeadLetterReason.UNKNOWN_INDICATOR
    [letter] = await eventually(lambda: letters(unknown, 1), timeout_s=20, what="the letter")
    assert person.last_name.encode() in open_original(letter, keys)
    await redrive(hub_settings, letter.dead_letter_id)

    async def refused_again() -> list[DeadLetter] | None:
        found = await letters(unknown, 1)
        return (
            found
            if found and letter.dead_letter_id not in {d.dead_letter_id for d in found}
            else None
        )

    await eventually(refused_again, timeout_s=20, what="the re-drive refused again")
    redriven = [d for d in await read_letters(hub_settings, REDRIVE.name) if d.case_id == case_id]
    assert [d.dead_letter_id for d in redriven] == [letter.dead_letter_id]

    # Even while the case is live, nothing of the person is in clear in what the hub keeps.
    assert await raw_hits(hub_settings, needles) == {}
    states, stored_letters, entries = await case_records(hub_settings, codec, case_id)
    assert states
    assert len(stored_letters) >= 4  # the forgery, the letter, its re-drive, its refusal
    assert readable(keys, states, stored_letters, entries)  # the hub itself can read them

    # The case is closed two years and a day ago (its last contact); today the run shreds it.
    schedule = RetentionSchedule.load(hub_settings.config_dir)
    TRAVEL.offset = -(schedule.personal_data_of_cases.period + timedelta(days=1))
    await association.publish(fresh(story[CaseClosed], case_id))

    async def closed() -> bool:
        state = await read_case(hub_settings, case_id)
        return state is not None and state.status.value == "CLOSED"

    await eventually(closed, timeout_s=20, what="the case closed")
    TRAVEL.offset = timedelta(0)
    code, output = await asyncio.to_thread(cli, hub_settings, "retention", "run", "--dry-run")
    assert code == 0, output
    assert f"dossier {case_id}" in output
    assert "simulation" in output
    assert readable(keys, *await case_records(hub_settings, codec, case_id))  # nothing destroyed

    code, output = await asyncio.to_thread(cli, hub_settings, "retention", "run")
    assert code == 0, output
    [line] = [x for x in output.splitlines() if f"dossier {case_id}" in x]
    assert "clé détruite" in line

    # A plain consumer reads everything: no field in clear, no copy that decrypts.
    states, stored_letters, entries = await case_records(hub_settings, codec, case_id)
    assert await raw_hits(hub_settings, needles) == {}
    assert readable(keys, states, stored_letters, entries) == []
    assert any(e.payload_ciphertext for e in entries)  # there were payloads to destroy

    code, output = await asyncio.to_thread(cli, hub_settings, "audit", "verify", str(case_id))
    assert code == 0, output
    code, output = await asyncio.to_thread(cli, hub_settings, "replay", str(case_id), "--json")
    assert code == 0, output
    rows = json.loads(output[output.index("{") :])["entries"]
    assert rows[-1]["action"] == "ERASED"
    assert rows[-1]["decision"] == EXPIRED
    assert {r["payload"] for r in rows if r["payload"] is not None} == {"ERASED"}

    # A second run finds nothing more to do for the case.
    code, output = await asyncio.to_thread(cli, hub_settings, "retention", "run")
    assert code == 0, output
    assert f"dossier {case_id}" not in output


async def test_topics_carry_the_retention_of_the_schedule(hub_settings: HubSettings) -> None:
    admin = AIOKafkaAdminClient(**client_options(hub_settings))
    await admin.start()
    try:
        wanted = [
            inbox_topic("association-93"),
            outbox_topic("police-93"),
            DEAD_LETTERS.name,
            REDRIVE.name,
            CASE_STATE.name,
        ]
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        )
    finally:
        await admin.close()
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for answer in answers
        for resource in answer.resources
    }
    assert configs[inbox_topic("association-93")]["retention.ms"] == str(30 * DAY_MS)
    assert configs[outbox_topic("police-93")]["retention.ms"] == str(7 * DAY_MS)
    assert configs[DEAD_LETTERS.name]["retention.ms"] == str(30 * DAY_MS)
    assert configs[REDRIVE.name]["retention.ms"] == str(30 * DAY_MS)
    assert configs[CASE_STATE.name]["cleanup.policy"] == "compact"
    assert configs[CASE_STATE.name]["max.compaction.lag.ms"] == str(7 * DAY_MS)
