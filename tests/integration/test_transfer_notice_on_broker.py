"""A report transferred to the police, on the real broker (issue 20; CPP art. 40 al. 2).

An association reports labour trafficking of an adult who agreed to tell the labour
inspectorate only: the inspectorate receives it and the parquet is told (the inspectorate is
bound by CPP art. 40); the police's copy waits for her consent. The inspectorate transfers the
report to the police; when she agrees, the police receive it — once, not once per path — and
the parquet is never told twice.
"""

from __future__ import annotations

import uuid

import pytest
from flow_helpers import consent_for, envelope, nothing_for, received_for
from test_law_routing import labour_report
from worker_thread import AgencyFactory

from hub.contracts.enums import AgencyRole, IdentificationOutcome
from hub.contracts.events import IdentificationDecision, PresumedVictimReport, ProsecutorNotice

pytestmark = pytest.mark.usefixtures("worker")


async def test_a_report_transferred_to_the_police_reaches_them_once_and_the_parquet_once(
    agency: AgencyFactory,
) -> None:
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    police = await agency("police-93")
    parquet = await agency("tribunal-93")
    case_id = uuid.uuid4()
    report = labour_report(case_id)
    await association.publish(consent_for(AgencyRole.LABOUR_INSPECTORATE, case_id=case_id))
    await association.publish(report)
    (first,) = await received_for(inspectorate, case_id, 1, timeout_s=20)
    assert isinstance(first.event, PresumedVictimReport)
    (notice,) = await received_for(parquet, case_id, 1, timeout_s=20)
    assert isinstance(notice.event, ProsecutorNotice)
    assert notice.event.notifying_agencies == ("inspection-travail-93",)

    await inspectorate.publish(
        IdentificationDecision(
            envelope=envelope(case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.TRANSFERRED,
            transferred_to_role=AgencyRole.POLICE_GENDARMERIE,
        )
    )
    await nothing_for(police, case_id, for_s=2.0)  # her consent does not cover the police yet
    await association.publish(consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id))
    reached = await received_for(police, case_id, 2, timeout_s=10)
    assert [type(m.event) for m in reached] == [PresumedVictimReport]  # one copy, not two
    await nothing_for(parquet, case_id, for_s=2.0)  # told once already
