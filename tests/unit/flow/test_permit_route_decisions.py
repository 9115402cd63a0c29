"""Identification opens the permit route only for those CESEDA Book IV concerns (LAW.md §9).

A victim identified by the police: a Romanian (an EU citizen, under Book II, L110-4 and
L231-1) must never have their identity and immigration status sent to the prefecture; a
Nigerian still does (the recorded choice of issue 20 is later work).
"""

from __future__ import annotations

import uuid

import pytest
from flow_helpers import NOW, consent_for, context, envelope, events_for, inbound

from hub.contracts.enums import (
    AgencyRole,
    ExploitationType,
    IdentificationOutcome,
    ImmigrationStatus,
)
from hub.contracts.events import IdentificationDecision, PresumedVictimReport
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome

PERMIT = "fr.nrm.PermitRequested"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def identified(
    ctx: Context,
    nationalities: tuple[str, ...] | None,
    status: ImmigrationStatus | None = ImmigrationStatus.IRREGULAR,
) -> Outcome:
    """A sexual-exploitation report by the association, identified by the police."""
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport]
    assert report.person is not None
    person = report.person.model_copy(
        update={"nationalities": nationalities, "immigration_status": status}
    )
    report = report.model_copy(
        update={
            "envelope": envelope(case_id),
            "exploitation_types": (ExploitationType.SEXUAL,),
            "person": person,
        }
    )
    state = CaseState(case_id=case_id)
    # The association recorded the adult's consent to tell the police (docs/LAW.md CA-3).
    told = consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id)
    state = handle(state, inbound(told, "association-93", ctx, 0), ctx, NOW).state
    reported = handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW)
    # The police, and the parquet their duty to notify (CPP art. 40) reaches.
    assert {d.recipient.id for d in reported.deliveries} == {"police-93", "tribunal-93"}
    decision = IdentificationDecision(
        envelope=envelope(case_id),
        report_event_id=report.envelope.event_id,
        outcome=IdentificationOutcome.IDENTIFIED,
    )
    outcome = handle(reported.state, inbound(decision, "police-93", ctx, 2), ctx, NOW)
    assert outcome.refusal is None
    return outcome


def permits(outcome: Outcome) -> list[str]:
    """Every trace of a permit request: delivered, published, held or awaited."""
    traces = [d.recipient.id for d in outcome.deliveries if d.subject == PERMIT]
    traces += [p.topic for p in outcome.published if "PermitRequested" in f"{p.subject}{p.record}"]
    traces += [r.recipient for r in outcome.state.requests if r.subject == PERMIT]
    traces += [h.subject for h in outcome.state.holds if h.subject == PERMIT]
    return traces


@pytest.mark.parametrize("nationalities", [("ROU",), ("RO",), ("ROU", "MDA"), ("FRA", "NGA")])
def test_a_romanian_or_french_victim_never_gets_a_permit_request(
    ctx: Context, nationalities: tuple[str, ...]
) -> None:
    outcome = identified(ctx, nationalities)
    assert permits(outcome) == []
    assert "prefecture-93" not in {d.recipient.id for d in outcome.deliveries}
    # the rest of the pathway still opens
    assert outcome.state.reflection_ends is not None


@pytest.mark.parametrize(
    ("nationalities", "status"),
    [(("NGA",), ImmigrationStatus.IRREGULAR), ((), None), (None, ImmigrationStatus.IRREGULAR)],
    ids=["nigerian", "stateless", "irregular-no-nationality"],
)
def test_a_third_country_or_stateless_victim_still_gets_one(
    ctx: Context, nationalities: tuple[str, ...] | None, status: ImmigrationStatus | None
) -> None:
    outcome = identified(ctx, nationalities, status)
    (delivered,) = [d for d in outcome.deliveries if d.subject == PERMIT]
    assert delivered.recipient.id == "prefecture-93"


def test_an_unknown_nationality_sends_the_prefecture_nothing(ctx: Context) -> None:
    assert permits(identified(ctx, None, ImmigrationStatus.UNKNOWN)) == []
