"""The Python agency client over Kafka: what the broker redelivers, the agency sees once."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from eventually import eventually
from flow_helpers import permit_chosen, prefecture_consent, received_for
from worker_thread import AgencyFactory

from connectors.client import AgencyClient, InboxMessage
from connectors.client.dev import dev_client
from hub.contracts.enums import AckStatus
from hub.contracts.events import Acknowledgement, PermitRequested
from hub.contracts.topics import inbox_topic
from hub.runtime.kafka_options import client_options, consumer_group_options
from hub.runtime.settings import HubSettings

PREFECTURE = "prefecture-93"
WAIT_S = 30.0


def case_of(message: InboxMessage) -> uuid.UUID:
    return message.event.envelope.case_id  # type: ignore[attr-defined,no-any-return]


async def read_until(client: AgencyClient, case_id: uuid.UUID) -> list[InboxMessage]:
    """Everything the client yields, without committing, until a message of ``case_id``."""
    found: list[InboxMessage] = []

    async def case_arrived() -> bool:
        found.extend(await client.receive(expected=10**6, timeout_s=1.0, commit=False))
        return case_id in {case_of(m) for m in found}

    await eventually(case_arrived, timeout_s=WAIT_S, what=f"a message of case {case_id}")
    return found


async def read_until_redelivered(client: AgencyClient, count: int) -> list[InboxMessage]:
    """What the client yields (committing it) until the broker redelivered ``count``."""
    found: list[InboxMessage] = []

    async def redelivered() -> bool:
        if client.redelivered >= count:
            return True
        found.extend(await client.receive(expected=10**6, timeout_s=1.0))
        return client.redelivered >= count

    await eventually(redelivered, timeout_s=WAIT_S, what=f"{count} redelivered messages")
    return found


async def publish_request(settings: HubSettings, case_id: uuid.UUID) -> None:
    police = dev_client(settings, "police-93")
    await police.start()
    try:
        await police.publish(prefecture_consent(case_id))
        for event in permit_chosen(case_id):
            await police.publish(event)
    finally:
        await police.stop()


@pytest.mark.usefixtures("worker")
async def test_what_the_broker_redelivers_after_a_rebalance_before_commit_is_yielded_once(
    hub_settings: HubSettings,
) -> None:
    case_id = uuid.uuid4()
    group = f"prefecture-app-{uuid.uuid4()}"
    client = dev_client(hub_settings, PREFECTURE, group_id=group)
    await client.start()
    intruder = AIOKafkaConsumer(
        inbox_topic(PREFECTURE),
        group_id=group,
        enable_auto_commit=False,
        **client_options(hub_settings),
        **consumer_group_options(hub_settings),
    )
    try:
        await publish_request(hub_settings, case_id)
        before = await read_until(client, case_id)
        assert case_id in {case_of(m) for m in before}

        # A second member joins and leaves: the partitions move, nothing was committed, so
        # the broker hands the whole stretch to the client again.
        dropped_before = client.redelivered
        await intruder.start()

        async def intruder_joined() -> bool:
            if intruder.assignment():
                return True
            await intruder.getmany(timeout_ms=200)
            await client.receive(expected=10**6, timeout_s=0.2, commit=False)
            return bool(intruder.assignment())

        await eventually(intruder_joined, timeout_s=WAIT_S, what="the second member joining")
        await intruder.stop()

        after = await read_until_redelivered(client, dropped_before + len(before))
    finally:
        await client.stop()
    assert client.redelivered - dropped_before >= len(before)  # the broker did redeliver
    assert not {m.event_id for m in after} & {m.event_id for m in before}


@pytest.mark.usefixtures("worker")
async def test_a_restarted_client_drops_what_it_confirmed_and_gets_back_what_it_did_not(
    hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    group = f"prefecture-app-{uuid.uuid4()}"
    seen_path = tmp_path / "seen.sqlite"

    def prefecture() -> AgencyClient:
        return dev_client(hub_settings, PREFECTURE, group_id=group, seen_path=seen_path)

    first = prefecture()
    await first.start()
    try:
        await publish_request(hub_settings, case_id)
        unconfirmed = await read_until(first, case_id)
    finally:
        await first.stop()  # a crash before the application committed
    (ours,) = [m for m in unconfirmed if case_of(m) == case_id]

    second = prefecture()
    await second.start()
    try:
        again = await received_for(second, case_id, 1, timeout_s=WAIT_S)  # and commits it
    finally:
        await second.stop()
    assert [m.event_id for m in again] == [ours.event_id]  # it may not have been kept

    # The hub writes the same delivery again at a new offset (a worker crash mid-batch).
    await write_again(hub_settings, TopicPartition(inbox_topic(PREFECTURE), ours.partition), ours)

    third = prefecture()
    await third.start()
    try:
        after = await read_until_redelivered(third, 1)
    finally:
        await third.stop()
    assert third.redelivered == 1
    assert ours.event_id not in {m.event_id for m in after}


async def write_again(settings: HubSettings, tp: TopicPartition, message: InboxMessage) -> None:
    """Copy the record at ``message``'s offset, bytes and headers, to the end of ``tp``."""
    reader = AIOKafkaConsumer(enable_auto_commit=False, **client_options(settings))
    writer = AIOKafkaProducer(**client_options(settings))
    await reader.start()
    await writer.start()
    try:
        reader.assign([tp])
        reader.seek(tp, message.offset)
        batch = await reader.getmany(tp, timeout_ms=5000)
        record = batch[tp][0]
        assert record.offset == message.offset
        await writer.send_and_wait(
            tp.topic,
            record.value,
            key=record.key,
            headers=list(record.headers),
            partition=tp.partition,
        )
    finally:
        await reader.stop()
        await writer.stop()


@pytest.mark.usefixtures("worker")
async def test_an_agency_on_kafka_answers_a_request_and_the_requester_gets_the_answer(
    agency: AgencyFactory,
) -> None:
    case_id = uuid.uuid4()
    police = await agency("police-93")
    prefecture = await agency(PREFECTURE)
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id):  # the person's choice raises the request
        await police.publish(event)
    (delivered,) = await received_for(prefecture, case_id, 1, timeout_s=WAIT_S)
    request = delivered.event
    assert isinstance(request, PermitRequested)

    with pytest.raises(ValueError, match="needs a decline_reason"):
        await prefecture.acknowledge(case_id, request.request_id, AckStatus.DECLINED)
    await prefecture.acknowledge(
        case_id, request.request_id, "ACCEPTED", causation_id=delivered.event_id
    )

    (answer,) = await received_for(police, case_id, 1, timeout_s=WAIT_S)
    assert isinstance(answer.event, Acknowledgement)
    assert answer.event.request_id == request.request_id
    assert answer.event.status is AckStatus.ACCEPTED
