"""Attacks on the last unsigned link: re-drives (issue 21, trust).

Found by an attack review: ``nrm.redrive`` records were not signed, and the worker checked a
re-driven original's signature window against the dead letter's ``occurred_at``, which the
writer of the re-drive chooses. A back-dated STALE_SIGNATURE letter written straight to the
re-drive topic by anyone with produce rights was ROUTED. The never-re-drive policy was
enforced only by the CLI and the dashboard.

Here the attacks as an attacker (or an insider with the operator-action key) would write them,
on a broker and a worker of this module's own: each is a dead letter with its machine reason
(source ``nrm.redrive``) and the prefecture never receives the request, although the person's
consent would let a genuine one through. A re-drive from the CLI and one from the dashboard
still route their request, once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from agency_clients import ClientFactory, signer_for
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from directory_records import publish_entry
from eventually import consistently, eventually
from flow_helpers import (
    permit_chosen,
    prefecture_consent,
    received_for,
)
from redrive_records import OPERATOR, letter_headers, redrive_headers
from test_dashboard import dashboard_config, demo_passwords
from typer.testing import CliRunner
from worker_thread import WorkerThread

from agents.io.reader import read_topics
from agents.redrive import RedriveError, list_dead_letters, list_stored, redrive
from connectors.client import AgencyClient
from connectors.dashboard.app import create_dashboard_app
from connectors.serving import BackgroundServer
from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.contracts.events import PermitRequested
from hub.contracts.hub_records import DeadLetter, RecordHeader
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, REDRIVE, agency_topics, outbox_topic
from hub.rules.directory import Agency, SigningKey, entry_from_agency
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.signing import RecordSigner, public_key_b64, to_ms

R = DeadLetterReason
POLICE = "police-93"
PREFECTURE = "prefecture-93"
NEWCOMER = "association-95"
NEWCOMER_KEY = Ed25519PrivateKey.generate()
NEWCOMER_SIGNER = RecordSigner(NEWCOMER_KEY, f"{NEWCOMER}-2026-1")
STRANGER = RecordSigner(Ed25519PrivateKey.generate(), OPERATOR.key_id)
runner = CliRunner()


@pytest.fixture(scope="module")
def worker(own_settings: HubSettings) -> Iterator[WorkerThread]:
    running = WorkerThread(own_settings).start()
    try:
        yield running
    finally:
        running.stop()


def codec_for(settings: HubSettings) -> Codec:
    return Codec(SchemaRegistry.load(settings.schemas_dir))


async def send(
    settings: HubSettings,
    topic: str,
    value: bytes,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    partition: int | None = None,
) -> tuple[int, int]:
    """Write one record as anyone who reaches the port can; (partition, offset)."""
    producer = AIOKafkaProducer(acks="all", **client_options(settings))
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, value, key=key, headers=headers, partition=partition
        )
    finally:
        await producer.stop()
    return sent.partition, sent.offset


async def publish(
    settings: HubSettings,
    agency_id: str,
    event: object,
    case_id: uuid.UUID,
    *,
    signer: RecordSigner | None = None,
    signed_at: datetime | None = None,
) -> tuple[bytes, list[tuple[str, bytes]], int, int]:
    """``event`` on ``agency_id``'s outbox, signed (at ``signed_at``, now by default):
    (value, headers, partition, offset)."""
    codec = codec_for(settings)
    topic, key, value = outbox_topic(agency_id), str(case_id).encode(), codec.encode_event(event)
    signer = signer or signer_for(settings, agency_id)
    stamp = None if signed_at is None else to_ms(signed_at)
    headers = signer.sign(topic, key, value, timestamp_ms=stamp)
    partition, offset = await send(
        settings, topic, value, key, headers, partition=case_partition(case_id, 4)
    )
    return value, headers, partition, offset


async def letter_of(settings: HubSettings, topic: str, partition: int, offset: int) -> DeadLetter:
    """The dead letter the worker writes for the record at ``topic[partition]@offset``."""

    async def found() -> DeadLetter | None:
        for letter in await list_dead_letters(settings, include_redriven=True):
            if (letter.source_topic, letter.source_partition, letter.source_offset) == (
                topic,
                partition,
                offset,
            ):
                return letter
        return None

    return await eventually(
        found, timeout_s=20, interval_s=0.3, what=f"a dead letter for {topic}[{partition}]@{offset}"
    )


async def never_delivered(prefecture: AgencyClient, case_id: uuid.UUID) -> None:
    async def nothing() -> bool:
        messages = await prefecture.receive(expected=1, timeout_s=0.3)
        return not [m for m in messages if m.event.envelope.case_id == case_id]

    await consistently(nothing, for_s=2.0, what=f"no request of {case_id} at the prefecture")


async def stored_bytes(
    settings: HubSettings, dead_letter_id: uuid.UUID
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The letter's bytes and headers as the worker wrote them to nrm.deadletters."""
    stored = {
        s.letter.dead_letter_id: s for s in await list_stored(settings, include_redriven=True)
    }
    found = stored[dead_letter_id]
    assert found.hub_signed
    return found.value, list(found.headers)


@dataclass(frozen=True)
class Stale:
    """A genuine STALE_SIGNATURE dead letter: the person's recorded choice of a récépissé,
    signed by the police two days ago, after the information and her consent given now (a
    genuine choice would raise a permit request to the prefecture)."""

    case_id: uuid.UUID
    letter: DeadLetter
    value: bytes
    headers: list[tuple[str, bytes]]
    signed_at: datetime


@pytest.fixture
async def stale(own_settings: HubSettings, worker: WorkerThread) -> Stale:
    case_id = uuid.uuid4()
    await publish(own_settings, POLICE, prefecture_consent(case_id), case_id)
    information, choice = permit_chosen(case_id)
    await publish(own_settings, POLICE, information, case_id)
    signed_at = datetime.now(UTC) - timedelta(days=2)
    value, headers, partition, offset = await publish(
        own_settings, POLICE, choice, case_id, signed_at=signed_at
    )
    letter = await letter_of(own_settings, outbox_topic(POLICE), partition, offset)
    assert letter.reason is R.STALE_SIGNATURE
    return Stale(case_id, letter, value, headers, signed_at)


@pytest.fixture
async def prefecture(clients: ClientFactory) -> AgencyClient:
    return await clients(PREFECTURE)


async def test_a_forged_back_dated_redrive_written_straight_to_the_topic_is_not_routed(
    own_settings: HubSettings, stale: Stale, prefecture: AgencyClient
) -> None:
    """The review's attack: a DeadLetter that says the stale record arrived when it was
    signed, so its window opens again, written to nrm.redrive unsigned; then the same with a
    stranger's key under the operator key id; then by an insider who holds the operator-action
    key (the letter is still not the hub's). Also written to nrm.deadletters: no screen offers
    it."""
    codec = codec_for(own_settings)
    forged = DeadLetter(
        dead_letter_id=uuid.uuid4(),
        occurred_at=stale.signed_at + timedelta(seconds=1),  # back-dated
        reason=R.STALE_SIGNATURE,
        detail="forged",
        original=stale.value,
        original_key=str(stale.case_id).encode(),
        original_headers=tuple(RecordHeader(name=n, value=v) for n, v in stale.headers),
        source_topic=stale.letter.source_topic,
        source_partition=stale.letter.source_partition,
        source_offset=stale.letter.source_offset,
    )
    value, key = codec.encode_event(forged), str(stale.case_id).encode()
    attempts = {
        "unsigned": [],
        "stranger": STRANGER.sign(REDRIVE.name, key, value),
        "insider": OPERATOR.sign(REDRIVE.name, key, value),  # the letter has no hub signature
        "insider, letter signed by a stranger": redrive_headers(forged, value, key, hub=STRANGER),
    }
    for name, headers in attempts.items():
        partition, offset = await send(own_settings, REDRIVE.name, value, key, headers)
        refused = await letter_of(own_settings, REDRIVE.name, partition, offset)
        assert refused.reason is R.BAD_SIGNATURE, (name, refused.detail)
    await never_delivered(prefecture, stale.case_id)

    await send(
        own_settings, DEAD_LETTERS.name, value, key, letter_headers(forged, value, hub=STRANGER)
    )

    async def listed() -> bool:
        stored = await list_stored(own_settings, include_redriven=True)
        ids = {s.letter.dead_letter_id for s in stored}
        return forged.dead_letter_id in ids

    await eventually(listed, timeout_s=10, what="the forged letter listed")
    with pytest.raises(RedriveError, match="pas signée par le hub"):
        await redrive(own_settings, forged.dead_letter_id)


async def test_a_signed_redrive_of_a_letter_the_policy_refuses_is_refused_by_the_worker(
    own_settings: HubSettings, stale: Stale, prefecture: AgencyClient
) -> None:
    """An insider (or a screen's bug) skips the CLI's check: the genuine STALE_SIGNATURE letter,
    hub-signed, with a valid operator signature. The worker applies the policy itself."""
    with pytest.raises(RedriveError, match="relance refusée"):
        await redrive(own_settings, stale.letter.dead_letter_id)
    value, _ = await stored_bytes(own_settings, stale.letter.dead_letter_id)
    key = str(stale.case_id).encode()
    partition, offset = await send(
        own_settings, REDRIVE.name, value, key, redrive_headers(stale.letter, value, key)
    )
    refused = await letter_of(own_settings, REDRIVE.name, partition, offset)
    assert refused.reason is R.SEMANTIC_VIOLATION
    assert "re-drive policy" in refused.detail
    assert refused.case_id == stale.case_id
    await never_delivered(prefecture, stale.case_id)
    listed = {s.letter.dead_letter_id: s for s in await list_stored(own_settings)}
    assert listed[refused.dead_letter_id].hub_signed  # its refusal is the hub's...
    with pytest.raises(RedriveError, match="relance refusée"):  # ...and never re-driven itself
        await redrive(own_settings, refused.dead_letter_id)


@dataclass(frozen=True)
class Fixable:
    """Dead letters of the person's recorded choice of a permit (which raises the request),
    from an association not yet in the directory (a fix —
    adding it — makes them pass), the association then added."""

    letters: dict[str, tuple[uuid.UUID, DeadLetter]]


@pytest.fixture(scope="module")
def fixable(own_settings: HubSettings, worker: WorkerThread) -> Fixable:
    async def make() -> Fixable:
        codec = codec_for(own_settings)
        await create_topics(own_settings, agency_topics([NEWCOMER]))
        letters = {}
        for name in ("cli", "dashboard", "unsigned", "replayed"):
            case_id = uuid.uuid4()
            await publish(own_settings, POLICE, prefecture_consent(case_id), case_id)
            information, choice = permit_chosen(case_id)
            await publish(own_settings, POLICE, information, case_id)
            _v, _h, partition, offset = await publish(
                own_settings, NEWCOMER, choice, case_id, signer=NEWCOMER_SIGNER
            )
            letter = await letter_of(own_settings, outbox_topic(NEWCOMER), partition, offset)
            assert letter.reason is R.SPOOFED_SENDER
            letters[name] = (case_id, letter)
        newcomer = Agency(
            id=NEWCOMER,
            name="Association du Val-d'Oise",
            role=AgencyRole.SUPPORT_ASSOCIATION,
            departements=("95",),
            signing_keys=(
                SigningKey(key_id=NEWCOMER_SIGNER.key_id, public_key=public_key_b64(NEWCOMER_KEY)),
            ),
        )
        producer = AIOKafkaProducer(acks="all", **client_options(own_settings))
        await producer.start()
        try:
            entry = entry_from_agency(newcomer, datetime.now(UTC))
            await publish_entry(producer, codec, own_settings, entry)
        finally:
            await producer.stop()
        router = worker.router
        assert router is not None
        await eventually(
            lambda: router.directory.current.get(NEWCOMER) is not None,
            timeout_s=15,
            what="the directory follower applying the newcomer",
        )
        return Fixable(letters)

    return asyncio.run(make())


async def test_an_unsigned_or_replayed_redrive_of_a_fixable_letter_is_not_routed(
    own_settings: HubSettings, fixable: Fixable, prefecture: AgencyClient
) -> None:
    for name, signed_at, reason in (
        ("unsigned", None, R.BAD_SIGNATURE),
        ("replayed", datetime.now(UTC) - timedelta(days=2), R.STALE_SIGNATURE),
    ):
        case_id, letter = fixable.letters[name]
        value, letter_signature = await stored_bytes(own_settings, letter.dead_letter_id)
        key = str(case_id).encode()
        if signed_at is None:  # the genuine letter and the hub's signature, no operator's
            headers = [(f"nrm-letter-{n.removeprefix('nrm-')}", v) for n, v in letter_signature]
        else:  # a copy of a genuine operator-signed re-drive, two days old
            headers = redrive_headers(letter, value, key, signed_at=signed_at)
        partition, offset = await send(own_settings, REDRIVE.name, value, key, headers)
        refused = await letter_of(own_settings, REDRIVE.name, partition, offset)
        assert refused.reason is reason, (name, refused.detail)
        await never_delivered(prefecture, case_id)


async def shadow(settings: HubSettings, letter: DeadLetter) -> None:
    """An attacker's letter under the genuine one's id (back-dated, unsigned), written after it:
    the CLI and the dashboard must still re-drive the letter the hub wrote."""
    forged = letter.model_copy(
        update={"occurred_at": letter.occurred_at - timedelta(days=5), "detail": "forged"}
    )
    value = codec_for(settings).encode_event(forged)
    await send(settings, DEAD_LETTERS.name, value, str(letter.case_id).encode(), [])


async def test_a_cli_redrive_routes_the_request_once(
    own_settings: HubSettings, fixable: Fixable, prefecture: AgencyClient
) -> None:
    case_id, letter = fixable.letters["cli"]
    await shadow(own_settings, letter)
    result = await asyncio.to_thread(
        runner.invoke, app, ["deadletters", "redrive", str(letter.dead_letter_id)], obj=own_settings
    )
    assert result.exit_code == 0, result.output
    delivered = await received_for(prefecture, case_id, 1, timeout_s=20)
    assert [type(m.event) for m in delivered] == [PermitRequested]
    assert delivered[0].event.envelope.sender == NEWCOMER
    stored = {s.letter.dead_letter_id for s in await list_stored(own_settings)}
    assert letter.dead_letter_id not in stored  # listed as re-driven
    # The same signed re-drive copied again within its window: the request is not sent twice.
    (record,) = [
        r for r in await read_topics(own_settings, [REDRIVE.name]) if r.key == str(case_id).encode()
    ]
    await send(own_settings, REDRIVE.name, record.value or b"", record.key, list(record.headers))
    await never_delivered(prefecture, case_id)


@pytest.fixture
async def dashboard(own_settings: HubSettings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    server = BackgroundServer(
        create_dashboard_app(own_settings, dashboard_config(tmp_path))
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as http:
            yield http
    finally:
        server.stop()


async def test_a_dashboard_redrive_is_signed_and_routes_the_request(
    own_settings: HubSettings,
    fixable: Fixable,
    prefecture: AgencyClient,
    dashboard: httpx.AsyncClient,
) -> None:
    case_id, letter = fixable.letters["dashboard"]
    await shadow(own_settings, letter)
    passwords = demo_passwords(own_settings.config_dir)
    signed_in = await dashboard.post(
        "/connexion",
        data={
            "operateur": "operateur.demo",
            "mot_de_passe": passwords["operateur.demo"],
            "suivant": "/",
        },
    )
    assert signed_in.status_code == 303

    async def offered() -> str | None:
        page = await dashboard.get("/")
        button = f'action="/lettres-mortes/{letter.dead_letter_id}/relance"'
        return page.text if button in page.text else None

    page = await eventually(offered, timeout_s=20, interval_s=0.5, what="« Relancer » offered")
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    posted = await dashboard.post(
        f"/lettres-mortes/{letter.dead_letter_id}/relance",
        data={"csrf": csrf},
        headers={"Accept": "application/json"},
    )
    assert posted.status_code == 200, posted.text
    delivered = await received_for(prefecture, case_id, 1, timeout_s=20)
    assert [type(m.event) for m in delivered] == [PermitRequested]
