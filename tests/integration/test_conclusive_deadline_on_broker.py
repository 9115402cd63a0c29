"""The conclusive identification decision is chased after reasonable grounds, on the real
broker in fast time (issue 20; docs/LAW.md ID-2, HP-24).

Two labour-exploitation reports reach the labour inspectorate, which finds reasonable grounds
in both. It decides one of them conclusively at once; it forgets the other. Thirty days later
(hub policy: no text sets the time; Warsaw art. 10(2) keeps the person in the identification
process until then) the forgotten one is reminded to the inspectorate, then escalated to its
supervisor; the decided one is never chased.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flow_helpers import consent_for, envelope, events_for, fresh, received_for
from test_deadlines_on_broker import escalations_of_deadlines, fast_time
from worker_process import WorkerProcess
from worker_thread import AgencyClient, AgencyFactory

from hub.contracts.enums import (
    AgencyRole,
    EscalationStep,
    ExploitationType,
    IdentificationOutcome,
)
from hub.contracts.events import Escalation, IdentificationDecision, PresumedVictimReport
from hub.rules.deadlines.open_deadline import deadline_id_for
from hub.rules.deadlines.policy import CONCLUSIVE_DECISION
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.slow
INSPECTORATE = "inspection-travail-93"
WAIT_S = 90.0  # 30 simulated days are ~26 s of wall time at 100,000x


async def reported(
    association: AgencyClient, inspectorate: AgencyClient
) -> tuple[uuid.UUID, uuid.UUID]:
    """A labour report of an adult who agreed to tell the inspectorate: (case id, report id)."""
    case_id = uuid.uuid4()
    report = fresh(
        events_for(case_id)[PresumedVictimReport],
        case_id,
        exploitation_types=(ExploitationType.LABOUR,),
    )
    await association.publish(consent_for(AgencyRole.LABOUR_INSPECTORATE, case_id=case_id))
    await association.publish(report)
    seen = await received_for(inspectorate, case_id, 1, timeout_s=30)
    assert any(isinstance(m.event, PresumedVictimReport) for m in seen)
    return case_id, report.envelope.event_id


def decision(case_id: uuid.UUID, report_id: uuid.UUID, outcome: str) -> IdentificationDecision:
    return IdentificationDecision(
        envelope=envelope(case_id),
        report_event_id=report_id,
        outcome=IdentificationOutcome(outcome),
    )


async def conclusive_steps(
    client: AgencyClient, deadline_ids: set[uuid.UUID], want: int, within_s: float = WAIT_S
) -> list[Escalation]:
    return await escalations_of_deadlines(client, deadline_ids, want, within_s)


async def test_a_forgotten_conclusive_decision_is_chased_and_a_made_one_is_not(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    association = await agency("association-93")
    inspectorate = await agency(INSPECTORATE)
    supervisor = await agency("coordination-idf")
    with WorkerProcess(hub_settings, tmp_path / "worker.log", **fast_time(datetime.now(UTC))):
        forgotten_case, forgotten = await reported(association, inspectorate)
        decided_case, decided = await reported(association, inspectorate)
        await inspectorate.publish(decision(forgotten_case, forgotten, "REASONABLE_GROUNDS"))
        await inspectorate.publish(decision(decided_case, decided, "REASONABLE_GROUNDS"))
        await inspectorate.publish(decision(decided_case, decided, "IDENTIFIED"))
        ids = {
            report_id: deadline_id_for(report_id, INSPECTORATE, 0, CONCLUSIVE_DECISION)
            for report_id in (forgotten, decided)
        }
        # Both deadlines fall due together: once the forgotten one has climbed to the
        # supervisor, the decided one would have been reminded too.
        reminded = await conclusive_steps(inspectorate, set(ids.values()), 1)
        escalated = await conclusive_steps(supervisor, set(ids.values()), 1)
        late = await conclusive_steps(inspectorate, {ids[decided]}, 1, within_s=3.0)
    assert [(e.deadline_id, e.step) for e in reminded] == [
        (ids[forgotten], EscalationStep.REMINDER)
    ]
    assert [(e.deadline_id, e.step) for e in escalated] == [
        (ids[forgotten], EscalationStep.SUPERVISOR)
    ]
    assert all(e.request_id is None for e in reminded + escalated)  # names the case only
    assert late == []
