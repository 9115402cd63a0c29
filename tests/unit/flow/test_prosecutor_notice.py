"""The avis au procureur (CPP art. 40 al. 2) as the flow decides it, without a broker.

"Toute autorité constituée, tout officier public ou fonctionnaire qui, dans l'exercice de ses
fonctions, acquiert la connaissance d'un crime ou d'un délit est tenu d'en donner avis sans
délai au procureur de la République": when a report of trafficking reaches the labour
inspectorate or the police through the hub, the parquet receives one notice naming them,
with the identity and the offence — nothing the prosecutor does not need.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flow_helpers import NOW, consent_for, context, envelope, events_for, inbound

from hub.contracts.enums import (
    AgencyRole,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    IdentificationOutcome,
    LawfulBasis,
)
from hub.contracts.events import IdentificationDecision, PresumedVictimReport, ProsecutorNotice
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Deliver, Outcome

NOTICE = "fr.nrm.ProsecutorNotice"
IDENTIFYING = (AgencyRole.POLICE_GENDARMERIE, AgencyRole.LABOUR_INSPECTORATE)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def reported(
    ctx: Context, *, consent: bool, types: tuple[ExploitationType, ...]
) -> tuple[PresumedVictimReport, Outcome]:
    """A report by the association (with or without the adult's consent to tell the
    identifying authorities, every category)."""
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id), "exploitation_types": types}
    )
    state = CaseState(case_id=case_id)
    if consent:
        told = consent_for(*IDENTIFYING, case_id=case_id)
        state = handle(state, inbound(told, "association-93", ctx, 0), ctx, NOW).state
    return report, handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW)


def test_labour_trafficking_reaches_both_authorities_and_the_parquet_is_noticed(
    ctx: Context,
) -> None:
    report, outcome = reported(ctx, consent=True, types=(ExploitationType.LABOUR,))
    by_agency = {d.recipient.id: d for d in outcome.deliveries}
    assert set(by_agency) == {"inspection-travail-93", "police-93", "tribunal-93"}
    notice = by_agency["tribunal-93"]
    assert notice.subject == NOTICE
    assert notice.record["report_event_id"] == report.envelope.event_id
    assert set(notice.record["notifying_agencies"]) == {"inspection-travail-93", "police-93"}
    # Only what the prosecutor needs: no contact, health or immigration data, even though
    # the person consented to share everything with the identifying authorities.
    assert notice.categories == {DataCategory.IDENTITY, DataCategory.EXPLOITATION_DETAILS}
    assert notice.record["person"]["phone"] is None
    assert notice.record["person"]["health_needs"] is None
    assert notice.basis == "exception:public-official-duty"
    assert notice.lawful_bases == (
        LawfulBasis.GDPR_6_1_C_LEGAL_OBLIGATION,
        LawfulBasis.GDPR_10_OFFENCE_DATA,
        LawfulBasis.LED_2016_680,
    )
    assert notice.record["envelope"]["sender"] in {"inspection-travail-93", "police-93"}


def test_a_report_held_for_consent_raises_its_notice_when_consent_releases_it(
    ctx: Context,
) -> None:
    report, outcome = reported(ctx, consent=False, types=(ExploitationType.LABOUR,))
    assert outcome.deliveries == ()  # no official reached yet: no notice yet
    assert {h.role for h in outcome.state.holds} == set(IDENTIFYING)
    told = consent_for(*IDENTIFYING, case_id=report.envelope.case_id)
    released = handle(outcome.state, inbound(told, "association-93", ctx, 2), ctx, NOW)
    by_agency = {d.recipient.id: d for d in released.deliveries}
    assert set(by_agency) == {"inspection-travail-93", "police-93", "tribunal-93"}
    assert by_agency["tribunal-93"].subject == NOTICE
    # Once per case: a later consent releases nothing more and raises no second notice.
    again = handle(
        released.state,
        inbound(
            consent_for(*IDENTIFYING, case_id=report.envelope.case_id), "association-93", ctx, 3
        ),
        ctx,
        NOW,
    )
    assert again.deliveries == ()


def test_a_report_processed_again_after_a_crash_gives_the_same_notice(ctx: Context) -> None:
    """At-least-once: re-processing the report from the same state re-creates the notice with
    the same event id, which the parquet's client drops as a redelivery."""
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id), "exploitation_types": (ExploitationType.SEXUAL,)}
    )
    state = CaseState(case_id=case_id)
    told = consent_for(*IDENTIFYING, case_id=case_id)
    state = handle(state, inbound(told, "association-93", ctx, 0), ctx, NOW).state
    notices = [
        next(
            d
            for d in handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW).deliveries
            if d.subject == NOTICE
        )
        for _ in range(2)
    ]
    assert notices[0].event_id == notices[1].event_id
    assert list(notices[0].record["notifying_agencies"]) == ["police-93"]


def test_no_agency_may_publish_a_notice_itself(ctx: Context) -> None:
    report, outcome = reported(ctx, consent=True, types=(ExploitationType.LABOUR,))
    (delivered,) = [d for d in outcome.deliveries if d.subject == NOTICE]
    forged = ProsecutorNotice.model_validate(
        {**delivered.record, "envelope": envelope(report.envelope.case_id)}
    )
    refused = handle(outcome.state, inbound(forged, "police-93", ctx, 2), ctx, NOW)
    assert refused.refusal is not None
    assert refused.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION


def decided(ctx: Context, before: Outcome, report: PresumedVictimReport, **fields: Any) -> Outcome:
    decision = IdentificationDecision(
        envelope=envelope(report.envelope.case_id),
        report_event_id=report.envelope.event_id,
        **fields,
    )
    return handle(before.state, inbound(decision, "inspection-travail-93", ctx, 5), ctx, NOW)


def notices(*outcomes: Outcome) -> list[Deliver]:
    return [d for o in outcomes for d in o.deliveries if d.subject == NOTICE]


def test_a_report_transferred_to_the_police_tells_the_parquet_once(ctx: Context) -> None:
    """The adult agreed to tell the inspectorate only; it transfers the report to the police,
    who receive it once her consent covers them. The parquet hears of the offence exactly once,
    however the report reached the officials (CPP art. 40 al. 2)."""
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id), "exploitation_types": (ExploitationType.LABOUR,)}
    )
    state = CaseState(case_id=case_id)
    told = consent_for(AgencyRole.LABOUR_INSPECTORATE, case_id=case_id)
    state = handle(state, inbound(told, "association-93", ctx, 0), ctx, NOW).state
    first = handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW)
    assert {d.recipient.id for d in first.deliveries} == {"inspection-travail-93", "tribunal-93"}
    moved = decided(
        ctx,
        first,
        report,
        outcome=IdentificationOutcome.TRANSFERRED,
        transferred_to_role=AgencyRole.POLICE_GENDARMERIE,
    )
    assert moved.refusal is None
    police = consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=case_id)
    released = handle(moved.state, inbound(police, "association-93", ctx, 6), ctx, NOW)
    to_police = [
        d
        for o in (moved, released)
        for d in o.deliveries
        if d.recipient.id == "police-93" and d.subject == "fr.nrm.PresumedVictimReport"
    ]
    assert len(to_police) == 1
    (notice,) = notices(first, moved, released)
    assert notice.recipient.id == "tribunal-93"
    assert list(notice.record["notifying_agencies"]) == ["inspection-travail-93"]


def test_a_transfer_that_reaches_the_police_first_raises_their_notice(ctx: Context) -> None:
    """No official had the report before the transfer (its first copy still held): the one
    the transfer reaches raises the avis, as on the report's own routing."""
    case_id = uuid.uuid4()
    report = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id), "exploitation_types": (ExploitationType.LABOUR,)}
    )
    state = CaseState(case_id=case_id)
    told = consent_for(*IDENTIFYING, case_id=case_id)
    state = handle(state, inbound(told, "association-93", ctx, 0), ctx, NOW).state
    first = handle(state, inbound(report, "association-93", ctx, 1), ctx, NOW)
    # A case whose parquet was not told yet and whose police have no open copy (a case
    # recorded before the notice existed): the transfer alone must tell the parquet.
    received = tuple(r for r in first.state.received if r.subject != NOTICE)
    before = Outcome(state=first.state.model_copy(update={"received": received}))
    requests = tuple(r for r in before.state.requests if r.recipient != "police-93")
    before = Outcome(state=before.state.model_copy(update={"requests": requests}))
    moved = decided(
        ctx,
        before,
        report,
        outcome=IdentificationOutcome.TRANSFERRED,
        transferred_to_role=AgencyRole.POLICE_GENDARMERIE,
    )
    assert moved.refusal is None
    (notice,) = notices(moved)
    assert notice.recipient.id == "tribunal-93"
    assert list(notice.record["notifying_agencies"]) == ["police-93"]
