"""The routing pipeline on the real embedded broker: outboxes in, projections out.

A routing worker runs in-process; simulated agencies publish signed records through the
agency client and read their inboxes through it (so each event is seen once).
"""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from directory_records import publish_entry
from eventually import eventually
from flow_helpers import (
    chosen_request_id,
    events_for,
    fresh,
    nothing_for,
    permit_chosen,
    prefecture_consent,
    received_for,
)
from worker_thread import AgencyFactory, WorkerThread

from hub.audit.keys import default_key_store
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, DataCategory, DeadLetterReason
from hub.contracts.events import (
    AccommodationRequested,
    ConsentGiven,
    ConsentWithdrawn,
    PermitRequested,
    ReferralOpened,
    SupportRequested,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS
from hub.flow.sealed_letters import open_original
from hub.rules.directory import Directory, entry_from_agency
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


async def dead_letters_for(
    settings: HubSettings, predicate: object, expected: int, timeout_s: float = 15.0
) -> list[DeadLetter]:
    """Dead letters matching ``predicate``, read from the start of the topic (bounded)."""
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS.name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    found: list[DeadLetter] = []
    strays: list[object] = []  # anything but a dead letter fails the test below, never retried

    async def read_more() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                letter = codec.decode_event(record.value)
                if not isinstance(letter, DeadLetter):
                    strays.append(letter)
                elif predicate(letter):  # type: ignore[operator]
                    found.append(letter)
        assert strays or len(found) >= expected, f"{len(found)} so far"
        return True

    try:
        await eventually(
            read_more, timeout_s=timeout_s, what=f"{expected} dead letters", max_interval_s=0.2
        )
    finally:
        await consumer.stop()
    assert strays == []
    return found


async def test_referral_with_consent_reaches_association_and_provider_and_prefecture_sees_no_health(
    agency: AgencyFactory,
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    association = await agency("association-93")
    provider = await agency("reseau-national-eloignement")
    prefecture = await agency("prefecture-93")

    consent = story[ConsentGiven]
    await association.publish(consent)
    await police.publish(story[ReferralOpened])
    await police.publish(story[AccommodationRequested])
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id):  # the person's choice raises the permit request
        await police.publish(event)

    to_association = await received_for(association, case_id, 1)
    assert [type(m.event) for m in to_association] == [ReferralOpened]
    referral = to_association[0].event
    assert referral.person.first_name == "Amina"  # type: ignore[attr-defined]
    assert referral.envelope.sender == "police-93"  # type: ignore[attr-defined]

    to_provider = await received_for(provider, case_id, 1)
    assert [type(m.event) for m in to_provider] == [AccommodationRequested]

    to_prefecture = await received_for(prefecture, case_id, 1)
    permit = to_prefecture[0].event
    assert isinstance(permit, PermitRequested)
    assert permit.person is not None
    assert permit.person.last_name == "Diallo"
    assert permit.person.health_needs is None
    assert permit.person.phone is None


async def test_held_without_consent_released_on_consent_and_stopped_by_withdrawal(
    agency: AgencyFactory,
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    association = await agency("association-93")

    await police.publish(story[SupportRequested])
    await nothing_for(association, case_id, for_s=3.0)  # held

    consent = fresh(story[ConsentGiven], case_id, recipient_roles=(AgencyRole.SUPPORT_ASSOCIATION,))
    await association.publish(consent)
    released = await received_for(association, case_id, 1)
    assert [type(m.event) for m in released] == [SupportRequested]

    await police.publish(fresh(story[AccommodationRequested], case_id))  # held: no consent
    await association.publish(fresh(story[ConsentWithdrawn], case_id))
    notices = await received_for(association, case_id, 1)
    assert [type(m.event) for m in notices] == [ConsentWithdrawn]
    notice = notices[0].event
    assert isinstance(notice, ConsentWithdrawn)
    assert DataCategory.IDENTITY in (notice.categories or ())

    await police.publish(fresh(story[SupportRequested], case_id, request_id=uuid.uuid4()))
    await nothing_for(association, case_id, for_s=3.0)


async def test_bad_records_are_dead_lettered_and_the_stream_keeps_routing(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    association = await agency("association-93")
    prefecture = await agency("prefecture-93")
    key = str(case_id).encode()
    good = story[PermitRequested]

    corrupt = await police.publish_raw(
        b"\x00\x00\x00\x00\x01garbage",
        key,
        police.signer.sign("nrm.outbox.police-93", key, b"\x00\x00\x00\x00\x01garbage"),
    )
    unknown_value = b"\x00" + struct.pack(">I", 4242) + b"\x02"
    unknown = await police.publish_raw(
        unknown_value, key, police.signer.sign("nrm.outbox.police-93", key, unknown_value)
    )
    unsigned = await police.publish_raw(police.codec.encode_event(good), key)
    spoofed_event = fresh(good, case_id, sender="prefecture-93")
    spoofed = await police.publish(spoofed_event)
    await police.publish(prefecture_consent(case_id))
    information, choice = permit_chosen(case_id)  # her choice: the police may then ask too
    await police.publish(information)
    await police.publish(choice)
    first = await police.publish(good)
    replayed_value = police.codec.encode_event(good)
    replay = await police.publish_raw(
        replayed_value, key, police.signer.sign("nrm.outbox.police-93", key, replayed_value)
    )
    after = fresh(good, case_id, request_id=uuid.uuid4())
    await police.publish(after)
    not_identifying = await association.publish(story[ReferralOpened])

    delivered = await received_for(prefecture, case_id, 3)
    assert sorted(str(m.event.request_id) for m in delivered) == sorted(  # type: ignore[attr-defined]
        [str(chosen_request_id(choice)), str(good.request_id), str(after.request_id)]
    )
    wanted = {
        ("nrm.outbox.police-93", corrupt.offset): DeadLetterReason.CORRUPT_FRAME,
        ("nrm.outbox.police-93", unknown.offset): DeadLetterReason.UNKNOWN_SCHEMA_ID,
        ("nrm.outbox.police-93", unsigned.offset): DeadLetterReason.BAD_SIGNATURE,
        ("nrm.outbox.police-93", spoofed.offset): DeadLetterReason.SPOOFED_SENDER,
        ("nrm.outbox.police-93", replay.offset): DeadLetterReason.REPLAYED,
        (
            "nrm.outbox.association-93",
            not_identifying.offset,
        ): DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
    }
    partitions = {
        ("nrm.outbox.police-93", corrupt.partition),
        ("nrm.outbox.association-93", not_identifying.partition),
    }
    letters = await dead_letters_for(
        hub_settings,
        lambda d: (
            (d.source_topic, d.source_offset) in wanted
            and (d.source_topic, d.source_partition) in partitions
        ),
        expected=len(wanted),
    )
    assert {(d.source_topic, d.source_offset): d.reason for d in letters} == wanted
    by_reason = {d.reason: d for d in letters}
    # Undecodable, but keyed by its case: kept sealed under the case key, opened by the hub.
    garbled = by_reason[DeadLetterReason.CORRUPT_FRAME]
    assert garbled.case_id == case_id
    assert b"garbage" not in garbled.original
    keys = default_key_store(hub_settings.data_dir)
    assert open_original(garbled, keys) == b"\x00\x00\x00\x00\x01garbage"
    assert by_reason[DeadLetterReason.SPOOFED_SENDER].claimed_sender == "prefecture-93"
    assert first.offset < replay.offset


async def test_a_directory_change_reroutes_without_restart(
    agency: AgencyFactory, hub_settings: HubSettings, worker: WorkerThread
) -> None:
    directory = Directory.load(hub_settings.config_dir)
    local = directory.get("hebergement-93")
    assert local is not None
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    police = await agency("police-93")
    association = await agency("association-93")
    local_provider = await agency("hebergement-93")
    regional_provider = await agency("hebergement-95")

    async def request_accommodation() -> uuid.UUID:
        case_id = uuid.uuid4()
        story = events_for(case_id)
        await association.publish(fresh(story[ConsentGiven], case_id))
        request = story[AccommodationRequested]
        needs = request.needs.model_copy(update={"remote_placement": False})
        await police.publish(request.model_copy(update={"needs": needs}))
        return case_id

    first = await request_accommodation()
    assert len(await received_for(local_provider, first, 1)) == 1

    producer = AIOKafkaProducer(**client_options(hub_settings))
    await producer.start()
    try:
        closed = entry_from_agency(local.model_copy(update={"accepting": False}), datetime.now(UTC))
        await publish_entry(producer, codec, hub_settings, closed)
        router = worker.router
        assert router is not None

        def closed_applied() -> bool:
            current = router.directory.current.get(local.id)
            return current is not None and not current.accepting

        await eventually(
            closed_applied, timeout_s=5, what="the directory follower applying the closure"
        )
        second = await request_accommodation()
        assert len(await received_for(regional_provider, second, 1)) == 1
        await nothing_for(local_provider, second, for_s=2.0)
    finally:
        reopened = entry_from_agency(local, datetime.now(UTC))
        await publish_entry(producer, codec, hub_settings, reopened)
        await producer.stop()
