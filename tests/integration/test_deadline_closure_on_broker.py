"""Deadlines that close with their cause, on the real broker and the simulated clock.

Each test runs the case in slow time, stops the worker once its last record is committed,
and restarts it weeks later: every ladder step still open is then overdue at once. A control
request left unanswered in the same case proves the clock did pass its ladder; the closed
ones must stay silent — no reminder, no escalation, no orphaned need.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import RecordMetadata
from eventually import eventually
from flow_helpers import (
    chosen_request_id,
    consent_for,
    envelope,
    events_for,
    fresh,
    nothing_for,
    pathway_choice,
    permit_chosen,
    prefecture_consent,
    received_for,
    rights_information,
)
from test_case_lifecycle import labour_report, show
from test_deadlines_on_broker import committed_past, escalations_for
from typer.testing import CliRunner
from worker_process import WorkerProcess
from worker_thread import AgencyFactory

from agents.io.reader import read_topics
from hub.cli.app import app
from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, AgencyRole, IdentificationOutcome
from hub.contracts.events import (
    AccommodationRequested,
    Acknowledgement,
    ConsentWithdrawn,
    IdentificationDecision,
    PermitRequested,
    SupportRequested,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import ORPHANED_NEEDS
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.slow
runner = CliRunner()
START = "2026-11-20T09:00:00+00:00"
WEEKS_LATER = "2027-01-29T09:00:00+00:00"  # past the 30-day reflection period and its ladder


def slow_worker(settings: HubSettings, log: Path) -> WorkerProcess:
    return WorkerProcess(
        settings,
        log,
        HUB_CLOCK_START=START,
        HUB_CLOCK_ANCHOR=datetime.now(UTC).isoformat(),
        HUB_CLOCK_SPEED="1",
    ).start()


async def restart_weeks_later(
    worker: WorkerProcess, settings: HubSettings, log: Path, last: RecordMetadata
) -> WorkerProcess:
    """Stop ``worker`` once it committed ``last`` (its state is then stored), and start a
    new one weeks later in business time."""
    await eventually(
        lambda: committed_past(settings, last),
        timeout_s=20,
        interval_s=0.2,
        what="the worker committing the last record",
    )
    worker.stop()
    return WorkerProcess(settings, log, HUB_CLOCK_START=WEEKS_LATER, HUB_CLOCK_SPEED="1").start()


async def orphans_of(settings: HubSettings, request_id: uuid.UUID) -> list[Any]:
    codec = Codec(SchemaRegistry.load(settings.schemas_dir))
    records = await read_topics(settings, [ORPHANED_NEEDS.name])
    needs = [codec.decode_event(r.value or b"") for r in records]
    return [n for n in needs if n.request_id == request_id]  # type: ignore[attr-defined]


async def silent(clients: Sequence[Any], request_id: uuid.UUID) -> list[Any]:
    """Escalations of ``request_id`` that reach any of ``clients`` in a short window."""
    found = await asyncio.gather(*(escalations_for(c, request_id, 1, 6) for c in clients))
    return [e for batch in found for e in batch]


async def test_a_granted_permit_closes_the_reflection_period_deadline(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    prefecture = await agency("prefecture-93")
    provider = await agency("hebergement-93")
    supervisor = await agency("coordination-idf")
    national = await agency("miprof")
    log = tmp_path / "worker.log"
    worker = slow_worker(hub_settings, log)
    try:
        consent = consent_for(
            AgencyRole.ACCOMMODATION_PROVIDER, AgencyRole.LABOUR_INSPECTORATE, case_id=case_id
        )
        await association.publish(consent)
        report = labour_report(case_id)
        await association.publish(report)
        assert len(await received_for(inspectorate, case_id, 1, timeout_s=20)) == 1
        await inspectorate.publish(
            IdentificationDecision(
                envelope=envelope(case_id),
                report_event_id=report.envelope.event_id,
                outcome=IdentificationOutcome.IDENTIFIED,
            )
        )
        # The person chooses the reflection period and consents to the prefecture.
        information = rights_information(case_id)
        await association.publish(prefecture_consent(case_id))
        await association.publish(information)
        await association.publish(pathway_choice(information, report.person))
        (permit,) = await received_for(prefecture, case_id, 1, timeout_s=20)
        assert isinstance(permit.event, PermitRequested)
        permit_id = permit.event.request_id
        (housing,) = await received_for(provider, case_id, 1, timeout_s=20)
        assert isinstance(housing.event, AccommodationRequested)  # left unanswered: the control
        receipt = await prefecture.publish(
            Acknowledgement(
                envelope=envelope(case_id), request_id=permit_id, status=AckStatus.ACCEPTED
            )
        )
        await eventually(
            lambda: committed_past(hub_settings, receipt),
            timeout_s=20,
            interval_s=0.2,
            what="the worker handling the récépissé",
        )
        opened = await show(hub_settings, case_id)
        whats = {r["what"] for r in opened["open_requests"]}  # type: ignore[attr-defined]
        assert "reflection_period_end" in whats  # it starts with the récépissé (R425-2)
        last = await prefecture.publish(
            Acknowledgement(
                envelope=envelope(case_id), request_id=permit_id, status=AckStatus.COMPLETED
            )
        )
        worker = await restart_weeks_later(worker, hub_settings, log, last)
        control = await escalations_for(provider, housing.event.request_id, 1, 30)
        assert control, "the clock did not pass the ladder: the control request was not chased"
        late = await silent([prefecture, supervisor, national], permit_id)
    finally:
        worker.stop()
    assert late == []
    assert await orphans_of(hub_settings, permit_id) == []
    after = await show(hub_settings, case_id)
    whats = {r["what"] for r in after["open_requests"]}  # type: ignore[attr-defined]
    assert "reflection_period_end" not in whats
    assert "AccommodationRequested" in whats


async def test_a_withdrawal_closes_the_associations_request_and_spares_the_prefecture(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    police = await agency("police-93")
    association = await agency("association-93")
    prefecture = await agency("prefecture-93")
    supervisor = await agency("coordination-idf")
    national = await agency("miprof")
    story = events_for(case_id)
    support = fresh(story[SupportRequested], case_id, request_id=uuid.uuid4())
    information, choice = permit_chosen(case_id)  # her choice raises the request
    permit_id = chosen_request_id(choice)
    log = tmp_path / "worker.log"
    worker = slow_worker(hub_settings, log)
    try:
        await association.publish(consent_for(AgencyRole.SUPPORT_ASSOCIATION, case_id=case_id))
        await police.publish(support)
        await police.publish(prefecture_consent(case_id))
        await police.publish(information)
        await police.publish(choice)
        shared = await received_for(association, case_id, 1, timeout_s=20)
        assert [type(m.event) for m in shared] == [SupportRequested]
        assert len(await received_for(prefecture, case_id, 1, timeout_s=20)) == 1
        # The person withdraws the association's consent; she keeps her permit application.
        last = await association.publish(
            ConsentWithdrawn(
                envelope=envelope(case_id),
                recipient_roles=(AgencyRole.SUPPORT_ASSOCIATION,),
                recorded_by_role=AgencyRole.SUPPORT_ASSOCIATION,
            )
        )
        told = await received_for(association, case_id, 1, timeout_s=20)
        assert [type(m.event) for m in told] == [ConsentWithdrawn]
        # The withdrawal does not concern the prefecture: no notice for it.
        await nothing_for(prefecture, case_id, for_s=4)
        worker = await restart_weeks_later(worker, hub_settings, log, last)
        control = await escalations_for(prefecture, permit_id, 1, 30)
        assert control, "the clock did not pass the ladder: the unanswered permit was not chased"
        late = await silent([association, supervisor, national], support.request_id)
    finally:
        worker.stop()
    assert late == []
    assert await orphans_of(hub_settings, support.request_id) == []
    replayed = await asyncio.to_thread(
        runner.invoke, app, ["replay", str(case_id), "--json"], obj=hub_settings
    )
    assert replayed.exit_code == 0, replayed.output
    closures = [
        (e["action"], e["recipient"])
        for e in json.loads(replayed.stdout)["entries"]
        if e.get("reason") == "CONSENT_WITHDRAWN"
    ]
    assert ("CANCELLED", "association-93") in closures
