"""A Romanian victim's case sends the prefecture nothing, on the real broker (issue 20 item 3).

CESEDA L110-4, L200-2 and L231-1 (docs/LAW.md NA-2 … NA-5): an EU citizen is under Book II
and needs no residence permit, so identifying a Romanian victim must not hand their identity
and immigration status to the prefecture. A Nigerian victim identified the same way still
gets the request: it shows the prefecture is listening when the Romanian case is silent.
"""

from __future__ import annotations

import uuid

import pytest
from flow_helpers import consent_for, envelope, events_for, nothing_for, received_for
from test_case_lifecycle import show
from worker_thread import AgencyFactory

from hub.contracts.enums import (
    AgencyRole,
    ExploitationType,
    IdentificationOutcome,
    ImmigrationStatus,
)
from hub.contracts.events import IdentificationDecision, PermitRequested, PresumedVictimReport
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


def report_for(case_id: uuid.UUID, nationalities: tuple[str, ...]) -> PresumedVictimReport:
    """A sexual-exploitation report of a person the association thinks is irregular."""
    report = events_for(case_id)[PresumedVictimReport]
    assert report.person is not None
    person = report.person.model_copy(
        update={"nationalities": nationalities, "immigration_status": ImmigrationStatus.IRREGULAR}
    )
    return report.model_copy(
        update={
            "envelope": envelope(case_id),
            "exploitation_types": (ExploitationType.SEXUAL,),
            "person": person,
        }
    )


async def test_a_romanian_victim_identified_by_the_police_sends_the_prefecture_nothing(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    association = await agency("association-93")
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")

    async def identify(nationalities: tuple[str, ...]) -> uuid.UUID:
        case_id = uuid.uuid4()
        report = report_for(case_id, nationalities)
        await association.publish(consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id))
        await association.publish(report)
        assert len(await received_for(police, case_id, 1, timeout_s=20)) == 1
        await police.publish(
            IdentificationDecision(
                envelope=envelope(case_id),
                report_event_id=report.envelope.event_id,
                outcome=IdentificationOutcome.IDENTIFIED,
            )
        )
        # the reporter's notice comes from the same decision as any permit request
        assert len(await received_for(association, case_id, 1, timeout_s=20)) == 1
        return case_id

    nigerian = await identify(("NGA",))
    (permit,) = await received_for(prefecture, nigerian, 1, timeout_s=20)
    assert isinstance(permit.event, PermitRequested)

    romanian = await identify(("ROU",))
    shown = await show(hub_settings, romanian)
    assert shown["status"] == "SUPPORT_PATHWAY"
    whats = {r["what"] for r in shown["open_requests"]}  # type: ignore[attr-defined]
    assert "PermitRequested" not in whats
    await nothing_for(prefecture, romanian, for_s=3.0)
