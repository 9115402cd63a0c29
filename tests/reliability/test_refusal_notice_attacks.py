"""Finding 3 of issue 21, as the agency and as an attacker see it, on a broker of its own.

The agency: an acknowledgement with a wrong ``request_id`` got 202 from the gateway, was
dead-lettered, and the agency was never told. Now the agency reads, in its own inbox, a
notice signed by the hub that names its event, the reason and what to check, in French.

The attacker: anyone on the embedded broker's port can write on police-93's outbox. Its
forgeries must not (1) reach any inbox but the outbox owner's — whatever sender they claim,
(2) smuggle personal data into the notice, nor (3) flood the owner's inbox: at most the
budget's burst at once, then one notice per refill, and the count of what was not notified
one by one is told, so every refusal is accounted for — (4) nor hide, in that count, a genuine
refusal of the agency's own signed record: it has a budget of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from eventually import consistently, eventually
from figures import Report
from flow_helpers import events_for, fresh, permit_chosen
from gateway_fixtures import bearer, demo_tokens, served_gateway
from worker_thread import WorkerThread

from connectors.client import AgencyClient
from connectors.client.dev import dev_client
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import PresumedVictimReport, RefusalNotice
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import outbox_topic
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings

POLICE, PREFECTURE = "police-93", "prefecture-93"
BURST, REFILL_S = 5, 3.0
FLOOD = 200
WAIT_S = 30.0
PERSONAL = ("Amina", "Diallo", "+33 6 00 00 00 00", "passeport retenu")


@pytest.fixture(scope="module")
def budget_settings(own_settings: HubSettings) -> HubSettings:
    return own_settings.model_copy(
        update={"refusal_notice_burst": BURST, "refusal_notice_refill_seconds": REFILL_S}
    )


@pytest.fixture(scope="module")
def worker(budget_settings: HubSettings) -> Iterator[WorkerThread]:
    running = WorkerThread(budget_settings).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def attacker(own_settings: HubSettings) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer on the broker's port: no key, no token."""
    producer = AIOKafkaProducer(acks="all", **client_options(own_settings))
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def inbox_of(own_settings: HubSettings) -> AsyncIterator[Any]:
    """A fresh reader of an agency's inbox (its own group: reads from the start)."""
    started: list[AgencyClient] = []

    async def make(agency_id: str) -> AgencyClient:
        client = dev_client(own_settings, agency_id, group_id=f"test-{uuid.uuid4()}")
        await client.start()
        started.append(client)
        return client

    yield make
    for client in started:
        await client.stop()


def codec_for(settings: HubSettings) -> Codec:
    return Codec(SchemaRegistry.load(settings.schemas_dir))


async def notices(client: AgencyClient, topic: str, offset: int) -> list[RefusalNotice]:
    """The refusal notices the client reads (for one second) about the record at ``offset``
    of ``topic``'s partition 0 (garbage has no event id; the notice names where it was)."""
    found: list[RefusalNotice] = []
    for message in await client.receive(expected=10**6, timeout_s=1.0):
        notice = message.refusal
        if notice is not None and (notice.source_topic, notice.source_offset) == (topic, offset):
            found.append(notice)
    return found


@pytest.mark.usefixtures("worker")
async def test_the_agency_that_answered_a_wrong_request_id_reads_why_in_its_inbox(
    own_settings: HubSettings, inbox_of: Any
) -> None:
    case_id = uuid.uuid4()
    police = dev_client(own_settings, POLICE)
    await police.start()
    try:
        for event in permit_chosen(case_id):
            await police.publish(event)
    finally:
        await police.stop()
    token = demo_tokens(own_settings.config_dir)[PREFECTURE]
    ack_id, wrong_request = uuid.uuid4(), uuid.uuid4()
    with served_gateway(own_settings, max_wait_seconds=1.0) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            answer = await http.post(
                f"/v1/agencies/{PREFECTURE}/acknowledgements",
                json={
                    "case_id": str(case_id),
                    "request_id": str(wrong_request),
                    "status": "ACCEPTED",
                    "event_id": str(ack_id),
                },
                headers=bearer(token),
            )
            assert answer.status_code == 202, answer.text  # accepted for processing only
            cursor: str | None = None

            async def told() -> dict[str, Any] | None:
                nonlocal cursor
                params: dict[str, Any] = {"wait": 1, "limit": 500}
                if cursor:
                    params["cursor"] = cursor
                page = await http.get(
                    f"/v1/agencies/{PREFECTURE}/inbox", params=params, headers=bearer(token)
                )
                assert page.status_code == 200, page.text
                cursor = page.json()["cursor"]
                for item in page.json()["messages"]:
                    if item["subject"] == "fr.nrm.RefusalNotice" and item["event"][
                        "refused_event_id"
                    ] == str(ack_id):
                        return dict(item)
                return None

            item = await eventually(told, timeout_s=WAIT_S, what="the refusal notice")
    assert item is not None
    event = item["event"]
    assert event["reason"] == "UNKNOWN_REQUEST"
    assert event["authenticated"] is True
    assert "request_id" in event["detail"]
    assert event["dead_letter_id"]  # what to quote to national coordination
    assert item["case_id"] == str(case_id)


@pytest.mark.usefixtures("worker")
async def test_a_forgery_is_told_to_the_outbox_owner_only_and_carries_no_personal_data(
    own_settings: HubSettings, attacker: AIOKafkaProducer, inbox_of: Any
) -> None:
    codec = codec_for(own_settings)
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport]
    # Unsigned, claiming to come from the prefecture, full of a victim's personal data.
    forged = fresh(report, case_id, sender=PREFECTURE)
    assert forged.person.first_name == "Amina"
    key = str(case_id).encode()
    sent = await attacker.send_and_wait(
        outbox_topic(POLICE), codec.encode_event(forged), key=key, partition=0
    )

    police = await inbox_of(POLICE)
    seen: list[RefusalNotice] = []

    async def police_told() -> bool:
        seen.extend(await notices(police, outbox_topic(POLICE), sent.offset))
        return bool(seen)

    await eventually(police_told, timeout_s=WAIT_S, what="police-93 told of the forgery")
    notice = seen[0]
    assert notice.reason is DeadLetterReason.BAD_SIGNATURE
    assert not notice.authenticated
    # The ids it claims, for the owner to check against its own system: unproven, and said so.
    assert notice.refused_event_id == forged.envelope.event_id
    assert "quelqu'un écrit sur votre boîte d'envoi" in notice.detail
    wire = codec.encode_event(notice).decode("utf-8", "replace") + notice.model_dump_json()
    assert [value for value in PERSONAL if value in wire] == []

    # The sender it claimed hears nothing of it: an attacker cannot aim notices at others.
    prefecture = await inbox_of(PREFECTURE)

    async def prefecture_not_told() -> bool:
        return await notices(prefecture, outbox_topic(POLICE), sent.offset) == []

    await consistently(
        prefecture_not_told,
        for_s=2.0,
        what="no notice about the forgery in prefecture-93's inbox",
    )


@pytest.mark.usefixtures("worker")
async def test_a_flood_of_garbage_costs_the_owners_inbox_the_burst_and_every_refusal_is_counted(
    attacker: AIOKafkaProducer, inbox_of: Any, report: Report
) -> None:
    # Unsigned bytes are refused before they are read: notices are found by source offset.
    started = time.monotonic()
    offsets: set[tuple[int, int]] = set()
    for index in range(FLOOD):
        sent = await attacker.send(outbox_topic(POLICE), b"\x07garbage %d" % index, partition=0)
        offsets.add((0, (await sent).offset))
    flood_s = time.monotonic() - started
    # Police's own system makes a mistake in the middle of the flood: an answer signed with its
    # key, for a request the hub does not know. The forgeries spent another budget.
    own = await inbox_of(POLICE)
    genuine_id = uuid.uuid4()
    await own.acknowledge(uuid.uuid4(), uuid.uuid4(), "ACCEPTED", event_id=genuine_id)

    police = await inbox_of(POLICE)
    got: list[RefusalNotice] = []
    genuine: list[RefusalNotice] = []

    def accounted() -> int:
        return sum(1 + n.unnotified_before for n in got)

    async def every_refusal_accounted_for() -> bool:
        for message in await police.receive(expected=10**6, timeout_s=0.5):
            notice = message.refusal
            if notice is not None and (notice.source_partition, notice.source_offset) in offsets:
                got.append(notice)
            elif notice is not None and notice.refused_event_id == genuine_id:
                genuine.append(notice)
        return accounted() >= FLOOD and bool(genuine)

    await eventually(
        every_refusal_accounted_for,
        timeout_s=WAIT_S + FLOOD_BOUND_S(flood_s),
        what=f"the {FLOOD} refusals accounted for by notices",
    )
    elapsed = time.monotonic() - started
    assert accounted() == FLOOD  # each refusal told once: alone, or in a notice's count
    assert all(n.reason is DeadLetterReason.BAD_SIGNATURE for n in got)  # unsigned: not read
    assert not any(n.authenticated for n in got)
    # The budget: the burst, then one per refill period at most (plus the one released).
    assert len(got) <= BURST + int(elapsed / REFILL_S) + 1, (len(got), elapsed)
    assert len(got) < FLOOD / 10
    assert got[-1].unnotified_before > 0  # the last one carries the count of the flood
    # The genuine refusal was told on its own, not hidden in the flood's count.
    assert [(n.authenticated, n.unnotified_before) for n in genuine] == [(True, 0)]
    report(
        "refusal_notice_flood",
        {
            "forged_records": FLOOD,
            "notices": len(got),
            "burst": BURST,
            "refill_s": REFILL_S,
            "seconds_until_all_accounted": round(elapsed, 2),
            "counts_told": [n.unnotified_before for n in got],
        },
    )

    async def nothing_more() -> bool:
        for message in await police.receive(expected=10**6, timeout_s=0.2):
            notice = message.refusal
            assert notice is None or (notice.source_partition, notice.source_offset) not in offsets
        return True

    await consistently(nothing_more, for_s=REFILL_S + 1.0, what="no notice after the count")


def FLOOD_BOUND_S(flood_s: float) -> float:
    """Time for the budget to release the count after the flood was written."""
    return flood_s + 2 * REFILL_S
