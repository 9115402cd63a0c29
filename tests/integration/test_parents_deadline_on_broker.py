"""A minor's pending parents-informed step is chased, on the real broker in fast time
(CASF L226-2-1; docs/LAW.md MI-3, HP-25).

A hospital reports two minors; child protection receives both. For one, it says the parents
were informed; the other it leaves pending. Two working days later (hub policy: the text says
« préalablement » and sets no time) the pending one is reminded to child protection, then
escalated to its supervisor — naming the case only; the answered one is never chased.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flow_helpers import envelope, events_for, fresh, received_for
from test_deadlines_on_broker import escalations_of_deadlines, fast_time
from worker_process import WorkerProcess
from worker_thread import AgencyClient, AgencyFactory

from hub.contracts.enums import EscalationStep
from hub.contracts.events import Escalation, ParentsInformation, PresumedVictimReport
from hub.flow.parents import step_id
from hub.rules.deadlines.open_deadline import deadline_id_for
from hub.rules.deadlines.policy import PARENTS_INFORMED
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.slow
CHILD_PROTECTION = "ase-93"
WAIT_S = 60.0


async def minor_reported(hospital: AgencyClient, ase: AgencyClient) -> uuid.UUID:
    """A hospital's report of a suspected minor, received by child protection: its case id."""
    case_id = uuid.uuid4()
    report = fresh(events_for(case_id)[PresumedVictimReport], case_id, minor_suspected=True)
    await hospital.publish(report)
    seen = await received_for(ase, case_id, 1, timeout_s=30)
    assert any(isinstance(m.event, PresumedVictimReport) for m in seen)
    return case_id


async def parents_steps(
    client: AgencyClient, deadline_ids: set[uuid.UUID], want: int, within_s: float = WAIT_S
) -> list[Escalation]:
    return await escalations_of_deadlines(client, deadline_ids, want, within_s)


async def test_a_pending_parents_step_is_chased_and_an_answered_one_is_not(
    agency: AgencyFactory, hub_settings: HubSettings, tmp_path: Path
) -> None:
    hospital = await agency("hopital-93")
    ase = await agency(CHILD_PROTECTION)
    supervisor = await agency("coordination-idf")
    with WorkerProcess(hub_settings, tmp_path / "worker.log", **fast_time(datetime.now(UTC))):
        pending = await minor_reported(hospital, ase)
        answered = await minor_reported(hospital, ase)
        await ase.publish(ParentsInformation(envelope=envelope(answered), parents_informed=True))
        ids = {
            case_id: deadline_id_for(step_id(case_id), CHILD_PROTECTION, 0, PARENTS_INFORMED)
            for case_id in (pending, answered)
        }
        # Both steps fall due together: once the pending one has climbed to the supervisor,
        # the answered one would have been reminded too.
        reminded = await parents_steps(ase, set(ids.values()), 1)
        escalated = await parents_steps(supervisor, set(ids.values()), 1)
        late = await parents_steps(ase, {ids[answered]}, 1, within_s=3.0)
    assert [(e.deadline_id, e.step) for e in reminded] == [(ids[pending], EscalationStep.REMINDER)]
    assert [(e.deadline_id, e.step) for e in escalated] == [
        (ids[pending], EscalationStep.SUPERVISOR)
    ]
    assert all(e.request_id is None for e in reminded + escalated)  # names the case only
    assert all(e.envelope.case_id == pending for e in reminded + escalated)
    assert late == []
