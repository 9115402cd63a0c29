"""Reports, identification and the rights pathway on the real broker (issue: case lifecycle)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from flow_helpers import consent_for, envelope, events_for, nothing_for, received_for
from test_routing_pipeline import dead_letters_for
from typer.testing import CliRunner
from worker_thread import AgencyFactory

from hub.cli.app import app
from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    IdentificationOutcome,
    SupportType,
    Urgency,
)
from hub.contracts.events import (
    AccommodationNeeds,
    AccommodationRequested,
    ConsentGiven,
    IdentificationDecision,
    PresumedVictimReport,
    ReferralOpened,
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
        "accommodation_needs": AccommodationNeeds(
            urgency=Urgency.URGENT, preferred_departement="93"
        ),
        "support_needed": (SupportType.SOCIAL,),
    }
    fields.update(updates)
    return report.model_copy(update=fields)


async def show(settings: HubSettings, case_id: uuid.UUID) -> dict[str, object]:
    result = await asyncio.to_thread(
        runner.invoke, app, ["case", "show", str(case_id), "--json"], obj=settings
    )
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


async def test_an_association_report_is_identified_and_opens_the_rights_pathway(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    association = await agency("association-93")
    inspectorate = await agency("inspection-travail-93")
    prefecture = await agency("prefecture-93")
    provider = await agency("hebergement-93")
    consent = events_for(case_id)[ConsentGiven].model_copy(
        update={
            "envelope": envelope(case_id),
            # The adult agreed to tell the inspectorate (an association has no duty to report,
            # docs/LAW.md CA-3); the police's copy stays held until they agree to that too.
            "recipient_roles": (
                AgencyRole.ACCOMMODATION_PROVIDER,
                AgencyRole.LABOUR_INSPECTORATE,
            ),
            "categories": (
                DataCategory.IDENTITY,
                DataCategory.CONTACT,
                DataCategory.HEALTH,
                DataCategory.EXPLOITATION_DETAILS,
            ),
        }
    )
    await association.publish(consent)
    report = labour_report(case_id)
    await association.publish(report)

    (received,) = await received_for(inspectorate, case_id, 1, timeout_s=20)
    assert isinstance(received.event, PresumedVictimReport)
    under = await show(hub_settings, case_id)
    assert under["status"] == "UNDER_IDENTIFICATION"
    waiting = {(r["what"], r["recipient"]) for r in under["open_requests"]}  # type: ignore[attr-defined]
    assert ("PresumedVictimReport", "inspection-travail-93") in waiting
    # assistance does not wait for the decision (Dir. 2011/36 art. 11(2)-(3))
    assert ("AccommodationRequested", "hebergement-93") in waiting

    await inspectorate.publish(
        IdentificationDecision(
            envelope=envelope(case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.IDENTIFIED,
            indicator_codes=("ILO-FL-02",),
        )
    )
    # the accommodation went out at the report, before the decision (consent was given)
    (housing,) = await received_for(provider, case_id, 1, timeout_s=20)
    assert isinstance(housing.event, AccommodationRequested)
    notices = await received_for(association, case_id, 2, timeout_s=5)
    assert [type(m.event) for m in notices] == [IdentificationDecision]  # and nothing more
    # no choice recorded: the prefecture receives nothing
    await nothing_for(prefecture, case_id, for_s=2.0)

    pathway = await show(hub_settings, case_id)
    assert pathway["status"] == "SUPPORT_PATHWAY"
    whats = {r["what"] for r in pathway["open_requests"]}  # type: ignore[attr-defined]
    assert "AccommodationRequested" in whats
    assert "PermitRequested" not in whats
    assert "reflection_period_end" not in whats


async def test_a_minor_report_reaches_child_protection_and_the_audit_names_the_exception(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    hospital = await agency("hopital-93")
    child_protection = await agency("ase-93")
    prosecutor = await agency("parquet-mineurs-93")
    await hospital.publish(labour_report(case_id, minor_suspected=True))
    # the report, and the accommodation its needs call for at once: for a minor, to child
    # protection (assistance never waits for a decision, Dir. 2011/36 art. 11(2)-(3))
    received = await received_for(child_protection, case_id, 2, timeout_s=20)
    assert sorted(type(m.event).__name__ for m in received) == [
        "AccommodationRequested",
        "PresumedVictimReport",
    ]
    assert len(await received_for(prosecutor, case_id, 1, timeout_s=20)) == 1
    replayed = await asyncio.to_thread(
        runner.invoke, app, ["replay", str(case_id), "--json"], obj=hub_settings
    )
    assert replayed.exit_code == 0, replayed.output
    bases = {e.get("legal_basis") for e in json.loads(replayed.stdout)["entries"]}
    assert "exception:child-protection-minor" in bases


async def test_refusals_are_dead_lettered_and_the_next_good_record_is_routed(
    agency: AgencyFactory, hub_settings: HubSettings
) -> None:
    case_id = uuid.uuid4()
    association = await agency("association-93")
    police = await agency("police-93")
    inspectorate = await agency("inspection-travail-93")
    claims = await association.publish(events_for(case_id)[ReferralOpened])
    await association.publish(consent_for(AgencyRole.LABOUR_INSPECTORATE, case_id=case_id))
    report = labour_report(case_id)
    await association.publish(report)
    assert len(await received_for(inspectorate, case_id, 1, timeout_s=20)) == 1
    not_asked = await police.publish(
        IdentificationDecision(
            envelope=envelope(case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.IDENTIFIED,
        )
    )
    unknown_case = uuid.uuid4()
    invalid = await inspectorate.publish(
        IdentificationDecision(
            envelope=envelope(unknown_case),
            report_event_id=uuid.uuid4(),
            outcome=IdentificationOutcome.IDENTIFIED,
        )
    )
    wanted = {
        ("nrm.outbox.association-93", claims.offset): DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
        ("nrm.outbox.police-93", not_asked.offset): DeadLetterReason.WRONG_RESPONDER,
        ("nrm.outbox.inspection-travail-93", invalid.offset): DeadLetterReason.INVALID_TRANSITION,
    }
    ours = {case_id, unknown_case}
    # Records of different outboxes have no order between them: the good decision is sent
    # once the refusals are in, so that it cannot overtake them.
    letters = await dead_letters_for(hub_settings, lambda d: d.case_id in ours, len(wanted))
    assert {(d.source_topic, d.source_offset): d.reason for d in letters} == wanted
    await inspectorate.publish(
        IdentificationDecision(
            envelope=envelope(case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.NOT_IDENTIFIED,
        )
    )
    assert len(await received_for(association, case_id, 1, timeout_s=20)) == 1  # the notice
    assert any(
        "IdentificationDecision (IDENTIFIED) cannot happen to a case that is NEW" in d.detail
        for d in letters
    )
