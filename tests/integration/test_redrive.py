"""Re-drive: a dead letter whose cause is fixed is handled again, once, from its source."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from directory_records import publish_entry
from eventually import eventually
from flow_helpers import events_for, fresh, permit_chosen, prefecture_consent, received_for
from typer.testing import CliRunner
from worker_thread import AgencyFactory, WorkerThread

from agents.redrive import RedriveError, list_dead_letters, redrive
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.contracts.events import (
    PermitRequested,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import agency_topics, outbox_topic
from hub.rules.directory import Agency, SigningKey, entry_from_agency
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.runtime.topic_admin import create_topics
from hub.trust.signing import RecordSigner, public_key_b64

pytestmark = pytest.mark.usefixtures("worker")
NEWCOMER = "association-95"


async def wait_for_letter(settings: HubSettings, case_id: uuid.UUID) -> DeadLetter:
    async def letter() -> DeadLetter | None:
        return next((d for d in await list_dead_letters(settings) if d.case_id == case_id), None)

    return await eventually(
        letter, timeout_s=20, interval_s=0.5, what=f"a dead letter for case {case_id}"
    )


async def test_a_dead_letter_is_redriven_once_its_cause_is_fixed(
    agency: AgencyFactory, hub_settings: HubSettings, worker: WorkerThread
) -> None:
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    await create_topics(hub_settings, agency_topics([NEWCOMER]))
    key = Ed25519PrivateKey.generate()
    signer = RecordSigner(key, f"{NEWCOMER}-2026-1")
    case_id = uuid.uuid4()
    request = fresh(events_for(case_id)[PermitRequested], case_id, request_id=uuid.uuid4())
    value = codec.encode_event(request)
    topic = outbox_topic(NEWCOMER)
    producer = AIOKafkaProducer(**client_options(hub_settings))
    await producer.start()
    try:
        # An association not yet in the directory: nobody owns its outbox → dead letter.
        await producer.send_and_wait(
            topic,
            value,
            key=str(case_id).encode(),
            headers=signer.sign(topic, str(case_id).encode(), value),
        )
        letter = await wait_for_letter(hub_settings, case_id)
        assert letter.reason is DeadLetterReason.SPOOFED_SENDER

        # The fix: national coordination adds the association (and its key) to the directory.
        newcomer = Agency(
            id=NEWCOMER,
            name="Association du Val-d'Oise",
            role=AgencyRole.SUPPORT_ASSOCIATION,
            departements=("95",),
            signing_keys=(SigningKey(key_id=signer.key_id, public_key=public_key_b64(key)),),
        )
        entry = entry_from_agency(newcomer, datetime.now(UTC))
        await publish_entry(producer, codec, hub_settings, entry)
    finally:
        await producer.stop()
    router = worker.router
    assert router is not None
    await eventually(
        lambda: router.directory.current.get(NEWCOMER) is not None,
        timeout_s=10,
        what="the directory follower applying the newcomer",
    )

    prefecture = await agency("prefecture-93")
    police = await agency("police-93")
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id):  # the person's choice: her own request goes first
        await police.publish(event)
    (raised,) = await received_for(prefecture, case_id, 1, timeout_s=20)
    assert isinstance(raised.event, PermitRequested)
    result = await redrive(hub_settings, letter.dead_letter_id)
    assert result.dead_letter_id == letter.dead_letter_id
    delivered = await received_for(prefecture, case_id, 1, timeout_s=20)
    assert [type(m.event) for m in delivered] == [PermitRequested]
    assert delivered[0].event.envelope.sender == NEWCOMER
    assert delivered[0].event.request_id == request.request_id
    remaining = {d.dead_letter_id for d in await list_dead_letters(hub_settings)}
    assert letter.dead_letter_id not in remaining
    with pytest.raises(RedriveError):
        await redrive(hub_settings, letter.dead_letter_id)


def test_redrive_of_an_unknown_id_is_a_clear_error(hub_settings: HubSettings) -> None:
    from hub.cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["deadletters", "redrive", "not-a-uuid"])
    assert result.exit_code == 2
    assert "n'est pas un identifiant de lettre morte" in result.output
