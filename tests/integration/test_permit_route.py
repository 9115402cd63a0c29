"""The prefecture hears of a victim only by the person's own choice, on the real broker
(issue 20 items 2 and 3).

CESEDA R425-2 gives the récépissé to the foreigner "qui choisit" the reflection period after
the police's information (R425-1); the prefecture is also the authority that decides on
removal. So an adult foreign victim identified by the police sends the prefecture nothing;
after the recorded choice and the person's consent, exactly one ``PermitRequested`` goes out,
with identity and immigration status only. A Romanian victim (an EU citizen: CESEDA L110-4,
L231-1) never gets one: a choice asking for it is refused with a clear reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from flow_helpers import (
    consent_for,
    envelope,
    events_for,
    fresh,
    nothing_for,
    pathway_choice,
    prefecture_consent,
    received_for,
    rights_information,
)
from test_case_lifecycle import show
from test_refusal_notices import notice_of
from test_routing_pipeline import dead_letters_for
from typer.testing import CliRunner
from worker_thread import AgencyClient, AgencyFactory

from hub.cli.app import app
from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    IdentificationOutcome,
    ImmigrationStatus,
    PermitType,
)
from hub.contracts.events import IdentificationDecision, PermitRequested, PresumedVictimReport
from hub.contracts.registry import SchemaRegistry
from hub.rules.projection import Projector, categories_present
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")


def report_for(case_id: uuid.UUID, nationalities: tuple[str, ...]) -> PresumedVictimReport:
    """A sexual-exploitation report of an adult the association thinks is irregular."""
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


async def identified(
    association: AgencyClient, police: AgencyClient, nationalities: tuple[str, ...]
) -> PresumedVictimReport:
    """The association reports; the police identify; the association gets the notice."""
    case_id = uuid.uuid4()
    report = report_for(case_id, nationalities)
    # an association is bound by no duty to report: the person's consent for the police
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
    assert len(await received_for(association, case_id, 1, timeout_s=20)) == 1
    return report


async def test_an_identified_foreign_victim_reaches_the_prefecture_only_by_choice_and_consent(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    association = await agency("association-93")
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    report = await identified(association, police, ("NGA",))
    case_id = report.envelope.case_id
    await nothing_for(prefecture, case_id, for_s=2.0)  # identified, no choice: nothing

    information = rights_information(case_id)
    await association.publish(information)
    await association.publish(pathway_choice(information, report.person))
    await nothing_for(prefecture, case_id, for_s=2.0)  # a choice without consent: still held
    shown = await show(hub_settings, case_id)
    held = [h for h in shown["held_messages"] if h["for"] == "prefecture-93"]  # type: ignore[attr-defined]
    assert [h["what"] for h in held] == ["PermitRequested"]
    assert shown["pathway"]["choice_recorded"] is True  # type: ignore[index]

    await association.publish(prefecture_consent(case_id))
    (permit,) = await received_for(prefecture, case_id, 2, timeout_s=20)  # one, never two
    assert isinstance(permit.event, PermitRequested)
    assert permit.event.permit_type is PermitType.REFLECTION_PERIOD_RECEIPT
    projector = Projector(SchemaRegistry.load(hub_settings.schemas_dir))
    present = categories_present(
        permit.event.model_dump(), projector.tree("fr.nrm.PermitRequested")
    )
    assert present == {DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS}


async def test_a_romanian_victim_never_gets_a_permit_request_even_when_asking(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    association = await agency("association-93")
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    report = await identified(association, police, ("ROU",))
    case_id = report.envelope.case_id
    await association.publish(prefecture_consent(case_id))
    information = rights_information(case_id)
    await association.publish(information)
    choice = pathway_choice(information, report.person)
    await association.publish(choice)

    (letter,) = await dead_letters_for(
        hub_settings, lambda d: d.event_id == choice.envelope.event_id, 1
    )
    assert letter.reason is DeadLetterReason.NOT_IN_PERMIT_ROUTE
    assert "EU, EEA or Swiss national" in letter.detail
    shown = await show(hub_settings, case_id)
    assert shown["status"] == "SUPPORT_PATHWAY"
    whats = {r["what"] for r in shown["open_requests"]}  # type: ignore[attr-defined]
    assert "PermitRequested" not in whats
    await nothing_for(prefecture, case_id, for_s=3.0)


async def test_an_agency_asking_the_prefecture_before_the_persons_choice_is_refused(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    # A lawyer's reading of R425-2 (« qui choisit »): the person's consent to share her
    # immigration status is not her choice to ask for a permit. The police asking on their own
    # reach no one and hear why; the person's recorded choice then sends exactly one request.
    association = await agency("association-93")
    police = await agency("police-93")
    prefecture = await agency("prefecture-93")
    report = await identified(association, police, ("NGA",))
    case_id = report.envelope.case_id
    # Full consent: every category, for the prefecture. Consent is not her choice.
    await association.publish(consent_for(AgencyRole.PREFECTURE, case_id=case_id))
    own = fresh(events_for(case_id)[PermitRequested], case_id, person=report.person)
    await police.publish(own)

    (letter,) = await dead_letters_for(
        hub_settings, lambda d: d.event_id == own.envelope.event_id, 1
    )
    assert letter.reason is DeadLetterReason.NOT_CHOSEN
    assert "R425-2" in letter.detail
    notice, _ = await notice_of(police, own.envelope.event_id)
    assert notice.reason is DeadLetterReason.NOT_CHOSEN
    await nothing_for(prefecture, case_id, for_s=2.0)
    # The case's audit chain says why, against the police's own request.
    replayed = await asyncio.to_thread(
        CliRunner().invoke, app, ["replay", str(case_id), "--json"], obj=hub_settings
    )
    assert replayed.exit_code == 0, replayed.output
    entries = json.loads(replayed.stdout)["entries"]
    refused = [e for e in entries if e["event_id"] == str(own.envelope.event_id)]
    assert ("police-93", "DEAD_LETTERED", "NOT_CHOSEN") in {
        (e["actor"], e["action"], e["reason"]) for e in refused
    }
    assert not any(e["recipient"] == "prefecture-93" for e in entries)

    information = rights_information(case_id)
    await association.publish(information)
    await association.publish(pathway_choice(information, report.person))
    (permit,) = await received_for(prefecture, case_id, 2, timeout_s=20)  # one, never two
    assert isinstance(permit.event, PermitRequested)
    assert permit.event.request_id != own.request_id  # raised by the choice, not the police's
