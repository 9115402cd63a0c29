"""Deadlines on the real broker, in fast time: the ladder climbs, and a SIGKILLed worker's
overdue steps fire once each after its restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import RecordMetadata
from eventually import eventually
from flow_helpers import (
    chosen_request_id,
    consent_for,
    events_for,
    fresh,
    permit_chosen,
    prefecture_consent,
    received_for,
)
from worker_process import WorkerProcess
from worker_thread import AgencyClient, AgencyFactory

from agents.io.reader import committed_offsets
from agents.router import GROUP_ID
from hub.contracts.enums import AgencyRole, EscalationStep
from hub.contracts.events import Escalation, PermitRequested
from hub.contracts.topics import DEFAULT_PARTITIONS
from hub.runtime.settings import HubSettings

# 100,000 simulated seconds per second: the 5-working-day permit deadline and its ladder
# (reminder, supervisor +1 working day, national +2) pass in seconds of wall time.
SPEED = "100000"
pytestmark = pytest.mark.slow


def fast_time(anchor: datetime) -> dict[str, str]:
    return {
        "HUB_CLOCK_START": "2026-11-20T09:00:00+00:00",
        "HUB_CLOCK_ANCHOR": anchor.isoformat(),
        "HUB_CLOCK_SPEED": SPEED,
    }


async def escalations_for(
    client: object, request_id: uuid.UUID, want: int, timeout_s: float
) -> list[Escalation]:
    """Escalations of ``request_id`` that ``client`` receives within ``timeout_s`` (fewer
    than ``want`` once the window closes)."""
    found: list[Escalation] = []

    async def received() -> bool:
        for message in await client.receive(expected=1, timeout_s=1.0):  # type: ignore[attr-defined]
            if isinstance(message.event, Escalation) and message.event.request_id == request_id:
                found.append(message.event)
        return len(found) >= want

    # Not an error here: callers ask for one more than they expect, and the window closing
    # without it proves that no duplicate came.
    with contextlib.suppress(AssertionError):
        await eventually(received, timeout_s=timeout_s, what=f"{want} escalations")
    return found


async def escalations_of_deadlines(
    client: AgencyClient, deadline_ids: set[uuid.UUID], want: int, within_s: float
) -> list[Escalation]:
    """Escalations of the deadlines ``deadline_ids`` that ``client`` receives until ``want``
    came or ``within_s`` passed (the caller asserts)."""
    found: list[Escalation] = []

    async def enough() -> bool:
        for message in await client.receive(expected=1, timeout_s=1.0):
            event = message.event
            if isinstance(event, Escalation) and event.deadline_id in deadline_ids:
                found.append(event)
        return len(found) >= want

    with contextlib.suppress(AssertionError):
        await eventually(enough, timeout_s=within_s, what=f"{want} escalations")
    return found


async def committed_past(settings: HubSettings, sent: RecordMetadata) -> bool:
    """Whether the routing worker's group committed an offset past the record ``sent``."""
    tp = TopicPartition(sent.topic, sent.partition)
    offsets = await committed_offsets(settings, GROUP_ID, {sent.topic: DEFAULT_PARTITIONS})
    return offsets[tp] > sent.offset


async def test_an_unanswered_permit_request_is_reminded_then_escalated_in_order(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    information, choice = permit_chosen(case_id)  # her choice raises the request
    request_id = chosen_request_id(choice)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    supervisor = await agency("coordination-idf")
    national = await agency("miprof")
    with WorkerProcess(hub_settings, tmp_path / "worker.log", **fast_time(datetime.now(UTC))):
        await police.publish(prefecture_consent(case_id))
        await police.publish(information)
        await police.publish(choice)
        delivered = await received_for(prefecture, case_id, 1, timeout_s=30)
        assert [type(m.event) for m in delivered] == [PermitRequested]
        reminders = await escalations_for(prefecture, request_id, 1, 30)
        escalated = await escalations_for(supervisor, request_id, 1, 30)
        nationally = await escalations_for(national, request_id, 1, 30)
    assert [e.step for e in reminders] == [EscalationStep.REMINDER]
    assert [e.step for e in escalated] == [EscalationStep.SUPERVISOR]
    assert [e.step for e in nationally] == [EscalationStep.NATIONAL_COORDINATION]
    assert nationally[0].late_by_seconds > escalated[0].late_by_seconds > 0


async def test_overdue_steps_fire_once_each_after_a_sigkill(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    case_id = uuid.uuid4()
    information, choice = permit_chosen(case_id)  # her choice raises the request
    request_id = chosen_request_id(choice)
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    supervisor = await agency("coordination-idf")
    national = await agency("miprof")
    # Slow time first: the request is routed and its deadline stored, nothing is due yet.
    anchor = datetime.now(UTC)
    worker = WorkerProcess(
        hub_settings,
        tmp_path / "worker.log",
        HUB_CLOCK_START="2026-11-20T09:00:00+00:00",
        HUB_CLOCK_ANCHOR=anchor.isoformat(),
        HUB_CLOCK_SPEED="1",
    ).start()
    try:
        await police.publish(prefecture_consent(case_id))
        await police.publish(information)
        sent = await police.publish(choice)
        assert len(await received_for(prefecture, case_id, 1, timeout_s=30)) == 1
        # The batch's state is flushed before its offsets commit: once committed, it is kept.
        await eventually(
            lambda: committed_past(hub_settings, sent),
            timeout_s=15,
            interval_s=0.2,
            what="the worker committing the request's offset",
        )
        worker.kill()
        # Restart far in the future: every step of the ladder is overdue at once.
        worker = WorkerProcess(
            hub_settings,
            tmp_path / "worker.log",
            HUB_CLOCK_START="2026-12-31T09:00:00+00:00",
            HUB_CLOCK_SPEED="1",
        ).start()
        # Every step is due at once: listen for all three (and any duplicate) side by side.
        reminders, escalated, nationally = await asyncio.gather(
            escalations_for(prefecture, request_id, 2, 15),
            escalations_for(supervisor, request_id, 2, 15),
            escalations_for(national, request_id, 2, 15),
        )
        worker.kill()
        # And once more: a second restart must not fire any of them again.
        worker = WorkerProcess(
            hub_settings,
            tmp_path / "worker.log",
            HUB_CLOCK_START="2027-01-31T09:00:00+00:00",
            HUB_CLOCK_SPEED="1",
        ).start()
        again = await escalations_for(prefecture, request_id, 1, 8)
    finally:
        worker.stop()
    assert [e.step for e in reminders] == [EscalationStep.REMINDER]
    assert [e.step for e in escalated] == [EscalationStep.SUPERVISOR]
    assert [e.step for e in nationally] == [EscalationStep.NATIONAL_COORDINATION]
    assert again == []
    assert prefecture.redelivered == 0


async def test_a_report_without_a_decision_is_reminded_then_escalated(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    from hub.contracts.enums import ExploitationType
    from hub.contracts.events import PresumedVictimReport

    case_id = uuid.uuid4()
    report = fresh(
        events_for(case_id)[PresumedVictimReport],
        case_id,
        exploitation_types=(ExploitationType.LABOUR,),
    )
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    supervisor = await agency("coordination-idf")
    with WorkerProcess(hub_settings, tmp_path / "worker.log", **fast_time(datetime.now(UTC))):
        # The adult agreed to tell the inspectorate (an association has no duty to report);
        # the police's copy stays held for consent.
        told = consent_for(AgencyRole.LABOUR_INSPECTORATE, case_id=case_id)
        await association.publish(told)
        await association.publish(report)
        # The report and its reminder may come in one batch: collect both in one pass.
        seen = await received_for(inspectorate, case_id, 2, timeout_s=40)
        # A report's escalations name the case, not a request (Escalation.request_id is null).
        escalated = await received_for(supervisor, case_id, 1, timeout_s=30)
    assert {type(m.event) for m in seen} == {PresumedVictimReport, Escalation}
    reminder = next(m.event for m in seen if isinstance(m.event, Escalation))
    assert reminder.step is EscalationStep.REMINDER
    assert [m.event.step for m in escalated] == [EscalationStep.SUPERVISOR]
