"""Routing per the law on the real broker, through the agency clients (issue 20 items 6–8).

- Labour trafficking reported by an association (with the adult's agreement to tell the
  authorities): the labour inspectorate **and** the police receive it, and the parquet
  receives the avis au procureur (CPP art. 40) — identity and offence only; the subject
  report names the lawful bases of each disclosure.
- A minor reported by a hospital (secrecy-bound, but 226-14 1° needs no agreement for a
  minor): child protection and the juvenile prosecutor receive only the categories they
  require; the minor's accommodation goes to child protection, never to an adult provider;
  the parents-informed step (CASF L226-2-1) opens, closes on child protection's answer, and
  parents not informed bring an ad hoc administrator request to the juvenile prosecutor.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from eventually import eventually
from flow_helpers import consent_for, envelope, events_for, nothing_for, received_for
from typer.testing import CliRunner
from worker_thread import AgencyFactory

from hub.cli.app import app
from hub.contracts.enums import AgencyRole, DataCategory, ExploitationType, Urgency
from hub.contracts.events import (
    AccommodationNeeds,
    AccommodationRequested,
    AdHocAdministratorRequested,
    ParentsInformation,
    PresumedVictimReport,
    ProsecutorNotice,
)
from hub.runtime.settings import HubSettings

pytestmark = pytest.mark.usefixtures("worker")
runner = CliRunner()


def labour_report(case_id: uuid.UUID, **updates: object) -> PresumedVictimReport:
    report = events_for(case_id)[PresumedVictimReport]
    fields: dict[str, object] = {
        "envelope": envelope(case_id),
        "departement": "93",
        "exploitation_types": (ExploitationType.LABOUR,),
    }
    fields.update(updates)
    return report.model_copy(update=fields)


async def subject_report(settings: HubSettings, case_id: uuid.UUID) -> dict[str, object]:
    result = await asyncio.to_thread(
        runner.invoke, app, ["subject-report", str(case_id), "--json"], obj=settings
    )
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


async def replayed(settings: HubSettings, case_id: uuid.UUID) -> list[dict[str, object]]:
    result = await asyncio.to_thread(
        runner.invoke, app, ["replay", str(case_id), "--json"], obj=settings
    )
    assert result.exit_code == 0, result.output
    entries: list[dict[str, object]] = json.loads(result.stdout)["entries"]
    return entries


async def test_labour_trafficking_reaches_inspectorate_and_police_and_the_parquet_is_noticed(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    police = await agency("police-93")
    parquet = await agency("tribunal-93")
    identifying = (AgencyRole.LABOUR_INSPECTORATE, AgencyRole.POLICE_GENDARMERIE)
    await association.publish(consent_for(*identifying, case_id=case_id))
    report = labour_report(case_id)
    await association.publish(report)

    (at_inspectorate,) = await received_for(inspectorate, case_id, 1, timeout_s=20)
    (at_police,) = await received_for(police, case_id, 1, timeout_s=20)
    assert isinstance(at_inspectorate.event, PresumedVictimReport)
    assert isinstance(at_police.event, PresumedVictimReport)
    (noticed,) = await received_for(parquet, case_id, 1, timeout_s=20)
    notice = noticed.event
    assert isinstance(notice, ProsecutorNotice)
    assert notice.report_event_id == report.envelope.event_id
    assert set(notice.notifying_agencies) == {"inspection-travail-93", "police-93"}
    assert notice.person.last_name is not None
    assert notice.person.phone is None
    assert notice.person.health_needs is None
    assert notice.exploitation is not None

    shown = await subject_report(hub_settings, case_id)
    bases = {
        d["recipient"]: set(d["lawful_bases"])  # type: ignore[index]
        for d in shown["disclosures"]  # type: ignore[attr-defined]
    }
    assert bases["tribunal-93"] == {
        "GDPR_6_1_C_LEGAL_OBLIGATION",
        "GDPR_10_OFFENCE_DATA",
        "LED_2016_680",
    }
    assert "LED_2016_680" in bases["police-93"]
    assert "GDPR_6_1_A_CONSENT" in bases["inspection-travail-93"]
    assert "LED_2016_680" not in bases["inspection-travail-93"]


async def test_a_minor_reaches_child_protection_and_the_juvenile_prosecutor_with_only_what_they_require(  # noqa: E501
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    hospital = await agency("hopital-93")
    child_protection = await agency("ase-93")
    prosecutor = await agency("parquet-mineurs-93")
    provider = await agency("hebergement-93")
    report = labour_report(
        case_id,
        minor_suspected=True,
        accommodation_needs=AccommodationNeeds(urgency=Urgency.URGENT, preferred_departement="93"),
    )
    await hospital.publish(report)
    # Child protection receives the report and, at once, the accommodation its needs call for
    # (assistance without conditions, issue 20 item 4).
    at_report = await received_for(child_protection, case_id, 2, timeout_s=20)
    [at_ase] = [m for m in at_report if isinstance(m.event, PresumedVictimReport)]
    [housed_at_once] = [m for m in at_report if isinstance(m.event, AccommodationRequested)]
    assert housed_at_once.event.person.health_needs is None
    (at_prosecutor,) = await received_for(prosecutor, case_id, 1, timeout_s=20)
    for message in (at_ase, at_prosecutor):
        person = message.event.person
        assert person.last_name is not None  # identity: required
        assert person.health_needs is None  # optional health: never without consent
        assert person.phone is None
        assert person.address is None
        assert person.nationalities in (None, ())  # immigration: not theirs at all
    assert at_prosecutor.event.exploitation.narrative is not None  # the prosecutor requires it
    assert at_ase.event.exploitation.narrative is None  # optional for child protection

    # The minor's accommodation, asked by the association: to child protection, never to an
    # adult provider (even with remote placement asked, the national network takes adults).
    association = await agency("association-93")
    request = events_for(case_id)[AccommodationRequested].model_copy(
        update={"envelope": envelope(case_id), "request_id": uuid.uuid4()}
    )
    await association.publish(request)
    (housing,) = await received_for(child_protection, case_id, 1, timeout_s=20)
    assert isinstance(housing.event, AccommodationRequested)
    assert housing.event.person.health_needs is None
    await nothing_for(provider, case_id, for_s=3.0)

    shown = await subject_report(hub_settings, case_id)
    seen = {
        (d["recipient"], c)  # type: ignore[index]
        for d in shown["disclosures"]  # type: ignore[attr-defined]
        for c in d["categories"]  # type: ignore[index]
    }
    assert ("ase-93", DataCategory.HEALTH.tag) not in seen
    assert not any(r == "hebergement-93" for r, _ in seen)

    # The parents-informed step: opened with the transmission, closed by child protection,
    # which explains why the parents were not informed (the reason stays encrypted).
    steps = [e.get("decision") for e in await replayed(hub_settings, case_id)]
    assert any(str(d).startswith("parents-informed step opened") for d in steps)
    await child_protection.publish(
        ParentsInformation(
            envelope=envelope(case_id),
            parents_informed=False,
            contrary_interest_reason="Le père est mis en cause dans l'exploitation de l'enfant.",
        )
    )

    async def closed() -> bool:
        entries = await replayed(hub_settings, case_id)
        return any(e.get("reason") == "CONTRARY_TO_CHILD_INTEREST" for e in entries)

    await eventually(closed, timeout_s=20, what="the parents step closed in the audit trail")
    # Their interests conflict with the child's: the juvenile prosecutor is asked to appoint
    # an ad hoc administrator (CPP 706-50), without personal data.
    (asked,) = await received_for(prosecutor, case_id, 1, timeout_s=20)
    assert isinstance(asked.event, AdHocAdministratorRequested)
    assert asked.event.unaccompanied is False
