"""Defects the reliability suite found in hub/ and agents/, each as the test that showed it.

A defect still open is ``xfail(strict=True)``: the test fails today (so the suite stays
green); the day the fix lands it passes, strict xfail reports that, and the marker is removed.
A test without the marker is a fixed defect kept as its regression test. The defects and their
fixes are described in docs/RELIABILITY.md, "Defects found".
"""

from __future__ import annotations

import contextlib
import copy
import io
import struct
import uuid
from datetime import timedelta

import fastavro
import pytest
from agency_clients import signer_for, start_client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from eventually import eventually
from flow_helpers import (
    NOW,
    consent_for,
    context,
    events_for,
    fresh,
    inbound,
    permit_chosen,
    prefecture_consent,
    raw_record,
    withdrawal,
)
from worker_thread import WorkerThread

from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    OrphanReason,
    Urgency,
)
from hub.contracts.events import (
    PermitRequested,
    PresumedVictimReport,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEAD_LETTERS, inbox_topic, outbox_topic
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.dead_letters import (
    rejected_letter,
)
from hub.flow.deadline_flow import orphaned
from hub.flow.ingest import (
    Rejected,
    accept,
)
from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings, get_settings


def _registry() -> SchemaRegistry:
    return SchemaRegistry.load(get_settings().schemas_dir)


def _permit_with(field_name: str, writer_type: object, value: object) -> bytes:
    """A PermitRequested framed under its registered id, with one field written under another
    Avro type: byte surgery done by a writer schema."""
    registered = _registry().latest("fr.nrm.PermitRequested")
    schema = copy.deepcopy(registered.schema)
    case_id = uuid.uuid4()
    record = fresh(events_for(case_id)[PermitRequested], case_id).model_dump()
    person = next(f for f in schema["fields"] if f["name"] == "person")
    targets = [*schema["fields"], *person["type"]["fields"]]
    for item in targets:
        if item["name"] == field_name:
            item["type"] = writer_type
    if field_name in record:
        record[field_name] = value
    else:
        record["person"] = {**record["person"], field_name: value}
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, registered.schema_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema, named_schemas={}), record)
    return out.getvalue()


def test_a_negative_enum_index_is_a_corrupt_frame_not_another_symbol() -> None:
    # Index -1 is not a symbol of PermitType; fastavro's Python indexing reads it as the last
    # symbol (RESIDENT_CARD_AFTER_CONVICTION), so one corrupt byte changes what is asked.
    value = _permit_with("permit_type", "int", -1)
    with pytest.raises(CodecError) as refused:
        Codec(_registry()).decode(value)
    assert refused.value.reason is DeadLetterReason.CORRUPT_FRAME


def test_a_boolean_byte_other_than_0_or_1_is_a_corrupt_frame() -> None:
    # person.is_minor written as int 1 (byte 0x02): read as True, which would send the case
    # to child protection and the juvenile prosecutor.
    value = _permit_with("is_minor", ["null", "int"], 1)
    with pytest.raises(CodecError) as refused:
        Codec(_registry()).decode(value)
    assert refused.value.reason is DeadLetterReason.CORRUPT_FRAME


@pytest.mark.parametrize(
    "change",
    [
        {"categories": ()},
        {"recipient_roles": ()},
        {"categories": (DataCategory.UNKNOWN,)},
        {"recipient_roles": (AgencyRole.UNKNOWN,)},
        {"expires_at": NOW - timedelta(days=1)},
        {"purpose": " "},
    ],
    ids=[
        "no-category",
        "no-role",
        "only-unknown-category",
        "only-unknown-role",
        "expired",
        "no-purpose",
    ],
)
def test_malformed_consent_is_a_schema_violation(change: dict[str, object]) -> None:
    ctx = context()
    case_id = uuid.uuid4()
    consent = consent_for(AgencyRole.SUPPORT_ASSOCIATION, case_id=case_id).model_copy(update=change)
    outcome = handle(CaseState(case_id=case_id), inbound(consent, "association-93", ctx), ctx, NOW)
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SCHEMA_VIOLATION


def test_a_withdrawal_with_an_empty_scope_is_a_schema_violation() -> None:
    ctx = context()
    case_id = uuid.uuid4()
    empty = withdrawal(case_id).model_copy(update={"categories": ()})
    outcome = handle(CaseState(case_id=case_id), inbound(empty, "association-93", ctx), ctx, NOW)
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SCHEMA_VIOLATION


def test_two_orphaned_deadlines_of_one_report_have_two_event_ids() -> None:
    # A labour-exploitation report goes to the labour inspectorate and to the police: two
    # deadlines, two ladders, two orphaned needs. They share the request id (the report's
    # event id), so today they share an event id and a de-duplicating reader keeps one.
    state = CaseState(case_id=uuid.uuid4())
    request = uuid.uuid4()
    first, second = (
        orphaned(
            state,
            "fr.nrm.PresumedVictimReport",
            request,
            OrphanReason.PAST_LAST_STEP,
            (),
            uuid.uuid4(),
            NOW,
        )
        for _ in range(2)
    )
    assert first.record["envelope"]["event_id"] != second.record["envelope"]["event_id"]


def test_a_sexual_exploitation_report_raises_no_orphaned_need_for_the_labour_inspectorate() -> None:
    # routing.yaml: SEXUAL → police only. The inspectorate is not competent, yet the flow
    # raises an IDENTIFICATION need NO_ELIGIBLE_AGENCY for it (and audits a REFUSED note):
    # operators would see a false orphaned need for every report that is not about labour.
    ctx = context()
    case_id = uuid.uuid4()
    report = fresh(
        events_for(case_id)[PresumedVictimReport],
        case_id,
        urgency=Urgency.ROUTINE,
        exploitation_types=(ExploitationType.SEXUAL,),
    )
    told = consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id)
    state = handle(CaseState(case_id=case_id), inbound(told, "association-93", ctx), ctx, NOW).state
    outcome = handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW)
    assert [d.recipient.id for d in outcome.deliveries] == ["police-93", "tribunal-93"]
    assert outcome.published == ()


@pytest.mark.slow
async def test_a_record_with_a_huge_key_is_dead_lettered_and_the_stream_goes_on(
    own_settings: HubSettings,
) -> None:
    # The dead letter keeps the original key uncut; a 600 KiB key makes the dead letter
    # itself oversize, its encoding raises outside the per-record guard, and the worker
    # stops — then replays the same record at every restart (a poison pill).
    worker = WorkerThread(own_settings).start()
    producer = AIOKafkaProducer(max_request_size=2_000_000, **client_options(own_settings))
    await producer.start()
    topic = outbox_topic("police-93")
    police = signer_for(own_settings, "police-93")
    codec = Codec(_registry())
    failed: BaseException | None = None
    try:
        case_id = uuid.uuid4()
        huge_key = b"k" * (600 * 1024)
        value = codec.encode_event(fresh(events_for(case_id)[PermitRequested], case_id))
        poison = await producer.send_and_wait(
            topic,
            value,
            key=huge_key,
            partition=case_partition(case_id, 4),
            headers=police.sign(topic, huge_key, value),
        )
        good_case = uuid.uuid4()
        good_key = str(good_case).encode()
        # the person's consent and her choice, which raises the permit request
        for good in (prefecture_consent(good_case), *permit_chosen(good_case)):
            good_value = codec.encode_event(good)
            await producer.send_and_wait(
                topic,
                good_value,
                key=good_key,
                partition=case_partition(good_case, 4),
                headers=police.sign(topic, good_key, good_value),
            )
        letters, delivered = await _wait_for(
            own_settings, codec, poison.partition, poison.offset, good_case
        )
    finally:
        await producer.stop()
        failed = worker._error  # set when the worker's loop died
        with contextlib.suppress(RuntimeError):  # its loop is gone: its error is ``failed``
            worker.stop()
    assert failed is None, f"the worker died: {failed!r}"
    assert letters, "no dead letter for the huge key"
    assert delivered, "the good record after it was not routed"


async def _wait_for(
    settings: HubSettings, codec: Codec, partition: int, offset: int, good_case: uuid.UUID
) -> tuple[list[DeadLetter], bool]:
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS.name,
        inbox_topic("prefecture-93"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    delivered = False

    async def both_seen() -> bool:
        nonlocal delivered
        for records in (await consumer.getmany(timeout_ms=300)).values():
            for record in records:
                event = codec.decode_event(record.value or b"")
                if isinstance(event, DeadLetter):
                    if (event.source_partition, event.source_offset) == (partition, offset):
                        letters.append(event)
                elif event.envelope.case_id == good_case:  # type: ignore[attr-defined]
                    delivered = True
        return bool(letters and delivered)

    try:
        # The caller asserts what is missing, after whether the worker died.
        with contextlib.suppress(AssertionError):
            await eventually(
                both_seen,
                timeout_s=15,
                max_interval_s=0.2,
                what="the dead letter and the good record",
            )
    finally:
        await consumer.stop()
    return letters, delivered


@pytest.mark.parametrize("schema_id", [2**31, 2**32 - 1])
def test_an_unknown_schema_id_above_int32_is_a_dead_letter_not_a_crash(schema_id: int) -> None:
    # The frame header is read as an unsigned int; DeadLetter.schema_id is an Avro int. Building
    # the dead letter raises a pydantic ValidationError outside the per-record guard: the
    # worker stops, and every restart replays the record (found by test_bad_input at 10,000).
    ctx = context()
    case_id = uuid.uuid4()
    event = fresh(events_for(case_id)[PermitRequested], case_id)
    value = Codec(_registry()).encode_event(event)
    raw = raw_record(event, "police-93", value=struct.pack(">BI", 0, schema_id) + value[5:])
    refused = accept(raw, Codec(_registry()), ctx.directory)
    assert isinstance(refused, Rejected)
    assert refused.reason is DeadLetterReason.UNKNOWN_SCHEMA_ID
    Codec(_registry()).encode_event(rejected_letter(refused))


@pytest.mark.slow
async def test_a_worker_whose_fetches_come_back_empty_raises_its_wait_and_routes(
    own_settings: HubSettings,
) -> None:
    # The embedded broker answers a fetch with what its storage read before the wait ran
    # out. On s3:// storage reads grew past the 50 ms wait and every fetch of the worker (and
    # of the agency's client) came back empty while records waited: the full-size outage test
    # lost 1,146 of 2,000 events. A 0 ms wait starves the same way on memory storage.
    starved = own_settings.model_copy(update={"fetch_max_wait_ms": 0})
    worker = WorkerThread(starved).start()
    police = await start_client(own_settings, "police-93")
    prefecture = await start_client(starved, "prefecture-93")
    cases = [uuid.uuid4() for _ in range(20)]
    seen: set[uuid.UUID] = set()
    try:
        for case_id in cases:
            await police.publish(prefecture_consent(case_id))
            for event in permit_chosen(case_id):  # her choice raises the permit request
                await police.publish(event)

        async def all_delivered() -> bool:
            for message in await prefecture.receive(expected=len(cases), timeout_s=1):
                seen.add(message.event.envelope.case_id)  # type: ignore[attr-defined]
            assert set(cases) <= seen, f"{len(set(cases) - seen)} of {len(cases)} not delivered"
            return True

        await eventually(all_delivered, timeout_s=60, max_interval_s=0.2, what="every case")
        assert worker.router is not None
        router_raised = worker.router.pacer.raised
    finally:
        await police.stop()
        await prefecture.stop()
        worker.stop()
    assert set(cases) <= seen, f"{len(set(cases) - seen)} of {len(cases)} never delivered"
    assert router_raised >= 1
