"""An attacker's and a lawyer's reading of "destroying the key makes every copy unreadable"
(issue 23), on the real broker.

A case carries a person whose every field is unique to the run. It is routed (an open
request to the prefecture, a held request) and closed by a worker whose clock reads two years
and a day ago (``TravelClock``), so its last contact is that old; back in the present,
``hub retention run`` has the worker expire it and destroy its key. Then:

- a thief with the hub's disk finds neither a field of the person nor the key's bytes in any
  file under the data directory (key journal, audit index, seen files, anything else);
- a reader with the broker port finds no field in clear on any topic but the agencies' own
  inboxes and outboxes (clear Avro by design, bounded by their retention);
- a record of the case the hub cannot decode (a schema id it does not know yet, as from an
  agency a version ahead) is dead-lettered sealed under the case key its record key names,
  not in clear: the case is known, so erasing it must reach that copy too;
- the case's chain, which the worker extended with the expiry, does not fork when the worker
  later writes on the same case (a late event from an agency), and the worker keeps nothing of
  the person in memory;
- an expiry command for a case whose last contact is recent (what a run on a clock set ahead,
  or anyone holding the hub's key, would send) is refused by the worker: nothing destroyed.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
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
from agents.redrive import list_dead_letters
from agents.retention_job import DueCase, send_expiries
from hub.audit.keys import default_key_store
from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import (
    CaseClosed,
    ReferralOpened,
    SupportRequested,
)
from hub.contracts.examples import example_person
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT, CASE_STATE, CORE_TOPICS, DEAD_LETTERS
from hub.flow.case_state import CaseFacts, Pathway
from hub.flow.expiry import EXPIRED
from hub.flow.sealed_letters import OriginalUnavailableError, open_original
from hub.runtime.kafka_options import client_options
from hub.runtime.logs import configure_logging
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import HubSettings

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


def cli(settings: HubSettings, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), obj=settings)
    return result.exit_code, result.output


def needles_of(token: str) -> dict[str, str]:
    """Fields of one person, each unique to this run (so any hit is this case's)."""
    return {
        "first_name": f"Prenom{token}",
        "last_name": f"Nom{token}",
        "phone": f"+33 6 {token}",
        "address": f"impasse {token}, Bobigny",
        "health_needs": f"soins {token}",
        "person_ref": f"P-{token}",
    }


async def expired_case(agency: AgencyFactory, settings: HubSettings) -> tuple[uuid.UUID, str]:
    """A case routed and closed two years and a day ago (on the worker's clock), whose key the
    retention run had the worker destroy today; its case id and token."""
    schedule = RetentionSchedule.load(settings.config_dir)
    TRAVEL.offset = -(schedule.personal_data_of_cases.period + timedelta(days=1))
    token = uuid.uuid4().hex[:12]
    person = example_person().model_copy(update=needles_of(token))
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    association = await agency("association-93")
    await police.publish(fresh(story[ReferralOpened], case_id, person=person))
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id, person):  # her choice raises the permit request
        await police.publish(event)
    await police.publish(fresh(story[SupportRequested], case_id, person=person))
    assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1
    await association.publish(fresh(story[CaseClosed], case_id))

    async def closed() -> bool:
        state = await read_case(settings, case_id)
        return state is not None and state.status.value == "CLOSED"

    await eventually(closed, timeout_s=20, what="the case closed")
    TRAVEL.offset = timedelta(0)
    code, output = await asyncio.to_thread(cli, settings, "retention", "run")
    assert code == 0, output
    [line] = [x for x in output.splitlines() if f"dossier {case_id}" in x]
    assert "expiré par le worker, clé détruite" in line
    return case_id, token


def files_holding(root: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    """Every regular file under ``root`` (recursively) that holds one of ``needles``."""
    found: dict[str, list[bytes]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            hits = [n for n in needles if n in content]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


async def test_no_disk_file_and_no_hub_topic_keeps_an_expired_case_readable(
    agency: AgencyFactory, hub_settings: HubSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    # Every line the hub can log, debug included, whatever an earlier test module configured:
    # the most a log could reveal is what the scan below reads.
    configure_logging(level="DEBUG")
    keys = default_key_store(hub_settings.data_dir)
    token = uuid.uuid4().hex[:12]
    # The key's bytes, taken while the case is live: a thief must not find them after.
    person = example_person().model_copy(update=needles_of(token))
    case_id = uuid.uuid4()
    police = await agency("police-93")
    await police.publish(fresh(events_for(case_id)[ReferralOpened], case_id, person=person))
    await eventually(lambda: read_case(hub_settings, case_id), timeout_s=20, what="the case")
    live_key_id, live_key = keys.get_or_create(case_id)
    assert keys.get(live_key_id) == live_key
    # The scan sees what a thief would: the live key is in the journal before it is destroyed.
    assert files_holding(hub_settings.data_dir, [base64.b64encode(live_key)])
    keys.destroy(case_id)  # as the retention run or an erasure would
    expired_id, expired_token = await expired_case(agency, hub_settings)

    for what, case_token, secret in (
        ("destroyed by the store", token, live_key),
        ("destroyed by the retention run", expired_token, None),
    ):
        needles = [v.encode() for v in needles_of(case_token).values()]
        if secret is not None:
            needles += [secret, base64.b64encode(secret)]
        assert files_holding(hub_settings.data_dir, needles) == {}, what

    expired_needles = [v.encode() for v in needles_of(expired_token).values()]
    hub_topics = [t.name for t in CORE_TOPICS]  # all but the inboxes and outboxes
    found: dict[str, int] = {}
    for record in await read_topics(hub_settings, hub_topics):
        blob = (record.key or b"") + (record.value or b"")
        blob += b"".join(value or b"" for _name, value in record.headers)
        if any(n in blob for n in expired_needles):
            found[record.topic] = found.get(record.topic, 0) + 1
    assert found == {}, f"case {expired_id}: personal data in clear on {found}"
    # The worker runs in this process: whatever it, the CLI and the clients logged is here.
    out, err = capfd.readouterr()
    assert str(expired_id) in out + err  # the capture does see the hub's log lines
    logged = [n for n in needles_of(expired_token).values() if n in out + err]
    assert logged == [], "personal data in the logs"


async def test_a_late_event_after_the_retention_run_does_not_fork_the_chain(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    case_id, _token = await expired_case(agency, hub_settings)
    police = await agency("police-93")

    async def entries() -> list[AuditEntry]:
        found = []
        for record in await read_topics(hub_settings, [AUDIT.name]):
            if record.key == str(case_id).encode():
                entry = codec.decode_event(record.value or b"")
                assert isinstance(entry, AuditEntry)
                found.append(entry)
        return found

    before = len(await entries())
    # An agency that has not heard of the closure writes on the case again.
    await police.publish(fresh(events_for(case_id)[SupportRequested], case_id))

    async def written() -> list[AuditEntry] | None:
        now = await entries()
        return now if len(now) > before else None

    await eventually(written, timeout_s=20, what="the worker's entry after the run")
    code, output = await asyncio.to_thread(cli, hub_settings, "audit", "verify", str(case_id))
    assert code == 0, output
    expired = [e for e in await entries() if e.decision == EXPIRED]
    assert len(expired) == 1
    # A second run finds nothing to expire: the case is not listed, nothing is chained.
    code, output = await asyncio.to_thread(cli, hub_settings, "retention", "run")
    assert code == 0, output
    assert str(case_id) not in output
    assert len([e for e in await entries() if e.decision == EXPIRED]) == 1


async def test_the_worker_keeps_nothing_of_an_expired_case_in_memory(
    agency: AgencyFactory, hub_settings: HubSettings, worker: WorkerThread
) -> None:
    case_id, _token = await expired_case(agency, hub_settings)
    assert worker.router is not None
    state = worker.router.store.get(case_partition(case_id, CASE_STATE.partitions), case_id)
    assert state.erased_at is not None
    assert state.facts == CaseFacts()
    assert state.requests == ()
    assert state.holds == ()
    assert state.received == ()
    assert state.pathway == Pathway()


async def test_an_expiry_for_a_case_in_recent_contact_is_refused_by_the_worker(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    # What a run on a clock set two years ahead would send, or anyone holding the hub's key:
    # a signed RetentionExpiry for a case the police wrote about a moment ago.
    keys = default_key_store(hub_settings.data_dir)
    case_id = uuid.uuid4()
    police = await agency("police-93")
    await police.publish(fresh(events_for(case_id)[ReferralOpened], case_id))
    await eventually(lambda: read_case(hub_settings, case_id), timeout_s=20, what="the case")
    key_id, key = keys.get_or_create(case_id)
    two_years_ago = datetime.now(UTC) - timedelta(days=800)
    codec = Codec(SchemaRegistry.load(hub_settings.schemas_dir))
    await send_expiries(hub_settings, codec, uuid.uuid4(), [DueCase(case_id, two_years_ago)])

    async def refused() -> bool:
        for record in await read_topics(hub_settings, [AUDIT.name]):
            if record.key == str(case_id).encode():
                entry = codec.decode_event(record.value or b"")
                if isinstance(entry, AuditEntry) and entry.decision == "retention expiry refused":
                    return True
        return False

    await eventually(refused, timeout_s=20, what="the worker's refusal")
    state = await read_case(hub_settings, case_id)
    assert state is not None
    assert state.erased_at is None
    assert keys.get(key_id) == key


async def test_an_undecodable_record_of_a_known_case_is_sealed_and_dies_with_its_key(
    agency: AgencyFactory, hub_settings: HubSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    # Every line the hub can log, debug included, whatever an earlier test module configured:
    # the most a log could reveal is what the scan below reads.
    configure_logging(level="DEBUG")
    keys = default_key_store(hub_settings.data_dir)
    token = uuid.uuid4().hex[:12]
    person = example_person().model_copy(update=needles_of(token))
    case_id = uuid.uuid4()
    police = await agency("police-93")
    await police.publish(fresh(events_for(case_id)[ReferralOpened], case_id, person=person))
    # The same referral framed under a schema id the hub does not know: the body, with the
    # person's name in it, is unreadable to the hub but signed and keyed by the case.
    value = police.codec.encode_event(
        fresh(events_for(case_id)[ReferralOpened], case_id, person=person)
    )
    value = value[:1] + struct.pack(">I", 4242) + value[5:]
    key = str(case_id).encode()
    sent = await police.publish_raw(value, key, police.signer.sign(police_outbox(), key, value))

    async def letter() -> DeadLetter | None:
        for d in await list_dead_letters(hub_settings):
            if d.source_offset == sent.offset and d.source_partition == sent.partition:
                return d
        return None

    found = await eventually(letter, timeout_s=20, what="the dead letter")
    assert found.reason is DeadLetterReason.UNKNOWN_SCHEMA_ID
    needles = [v.encode() for v in needles_of(token).values()]
    in_clear = [
        r.offset
        for r in await read_topics(hub_settings, [DEAD_LETTERS.name])
        if any(n in (r.value or b"") for n in needles)
    ]
    assert in_clear == [], "the case's record is in clear on the dead-letter topic"
    assert found.case_id == case_id
    assert open_original(found, keys) == value  # the hub can still re-drive it
    out, err = capfd.readouterr()
    assert [n for n in needles_of(token).values() if n in out + err] == []
    keys.destroy(case_id)
    with pytest.raises(OriginalUnavailableError):
        open_original(found, keys)


def police_outbox() -> str:
    return "nrm.outbox.police-93"


async def test_a_tombstoned_case_state_does_not_come_back_on_recovery(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    # Erasure tombstones the case state (issue 23 item 4); until the log cleaner runs, the
    # older values are still on the changelog, and a recovery must not bring the case back.
    case_id = uuid.uuid4()
    police = await agency("police-93")
    await police.publish(fresh(events_for(case_id)[ReferralOpened], case_id))
    await eventually(lambda: read_case(hub_settings, case_id), timeout_s=20, what="the case")
    partition = case_partition(case_id, CASE_STATE.partitions)
    producer = AIOKafkaProducer(**client_options(hub_settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            CASE_STATE.name, None, key=str(case_id).encode(), partition=partition
        )
    finally:
        await producer.stop()
    assert await read_case(hub_settings, case_id) is None


async def test_a_case_a_legal_hold_keeps_is_listed_and_not_expired(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    # A lawyer's reading of art. 17(3)(b): the prefecture has not decided the permit the police
    # asked for two years and a day ago; the run must keep the file and say why.
    schedule = RetentionSchedule.load(hub_settings.config_dir)
    TRAVEL.offset = -(schedule.personal_data_of_cases.period + timedelta(days=1))
    keys = default_key_store(hub_settings.data_dir)
    case_id = uuid.uuid4()
    story = events_for(case_id)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    await police.publish(fresh(story[ReferralOpened], case_id))
    await police.publish(prefecture_consent(case_id))
    for event in permit_chosen(case_id):  # her choice raises the permit request
        await police.publish(event)
    assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1
    TRAVEL.offset = timedelta(0)
    code, output = await asyncio.to_thread(cli, hub_settings, "retention", "run")
    assert code == 0, output
    [line] = [x for x in output.splitlines() if f"dossier {case_id}" in x]
    assert "conservé, obligation légale PENDING_PERMIT_DECISION" in line
    state = await read_case(hub_settings, case_id)
    assert state is not None
    assert state.erased_at is None
    key_id, key = keys.get_or_create(case_id)
    assert keys.get(key_id) == key
