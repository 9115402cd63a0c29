"""Reports from any first-line actor, the identification decision, the rights pathway and the
case lifecycle, through the flow (no broker, real policy files)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flow_helpers import NOW, consent_for, context, envelope, inbound

from hub.contracts.enums import (
    AgencyRole,
    AuditAction,
    CaseClosedReason,
    DataCategory,
    DeadLetterReason,
    ExploitationType,
    IdentificationOutcome,
    NotIdentifiedReason,
    SupportType,
    Urgency,
)
from hub.contracts.events import (
    AccommodationNeeds,
    CaseClosed,
    IdentificationDecision,
    PresumedVictimReport,
)
from hub.contracts.examples import CASE_ID, example_events
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome
from hub.rules.lifecycle import CaseStatus

REPORT = next(e for _s, e in example_events() if isinstance(e, PresumedVictimReport))
IDENTIFYING = (AgencyRole.POLICE_GENDARMERIE, AgencyRole.LABOUR_INSPECTORATE)
REPORTED = (DataCategory.IDENTITY, DataCategory.EXPLOITATION_DETAILS)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


class Case:
    """A case driven event by event, as the worker would. The association that reports has
    recorded the adult's consent to tell the identifying authorities (an association has no
    duty to report that would stand in for it: docs/LAW.md CA-3)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.state = CaseState(case_id=CASE_ID)
        self.offset = 0
        self.send("association-93", consent_for(*IDENTIFYING, categories=REPORTED))

    def send(self, sender: str, event: object, hours: float = 0) -> Outcome:
        self.offset += 1
        outcome = handle(
            self.state,
            inbound(event, sender, self.ctx, self.offset),
            self.ctx,
            NOW + timedelta(hours=hours),
        )
        self.state = outcome.state
        return outcome


def report(**updates: object) -> PresumedVictimReport:
    needs = AccommodationNeeds(urgency=Urgency.URGENT, preferred_departement="93")
    fields: dict[str, object] = {
        "envelope": envelope(),
        "exploitation_types": (ExploitationType.LABOUR,),
        "accommodation_needs": needs,
        "support_needed": (SupportType.SOCIAL, SupportType.LEGAL),
    }
    fields.update(updates)
    return REPORT.model_copy(update=fields)


def decided(
    report_id: uuid.UUID, outcome: IdentificationOutcome, **extra: object
) -> IdentificationDecision:
    return IdentificationDecision(
        envelope=envelope(), report_event_id=report_id, outcome=outcome, **extra
    )


def recipients(outcome: Outcome) -> dict[str, str]:
    return {d.recipient.id: d.subject.removeprefix("fr.nrm.") for d in outcome.deliveries}


def test_a_labour_report_goes_to_the_labour_inspectorate_with_a_decision_deadline(
    ctx: Context,
) -> None:
    case = Case(ctx)
    sent = case.send("association-93", report())
    assert "inspection-travail-93" in recipients(sent)
    assert case.state.status is CaseStatus.UNDER_IDENTIFICATION
    (deadline,) = [
        d for d in case.state.open_deadlines() if d.recipient_agency == "inspection-travail-93"
    ]
    assert deadline.message_type == "fr.nrm.PresumedVictimReport"
    assert deadline.request_id == sent.deliveries[0].record["envelope"]["causation_id"]


def test_mixed_forms_go_to_both_authorities_and_danger_calls_the_police(ctx: Context) -> None:
    mixed = Case(ctx).send(
        "association-93",
        report(exploitation_types=(ExploitationType.LABOUR, ExploitationType.SEXUAL)),
    )
    assert {"inspection-travail-93", "police-93"} <= set(recipients(mixed))
    danger = Case(ctx).send("hopital-93", report(immediate_danger=True))
    assert {"inspection-travail-93", "police-93"} <= set(recipients(danger))


def test_identification_opens_the_pathway_but_asks_the_prefecture_nothing(
    ctx: Context,
) -> None:
    case = Case(ctx)
    case.send("association-93", consent_for(*AgencyRole))  # consent to everything, everyone
    first = report()
    reported = case.send("association-93", first)
    # assistance goes out at the report, before any decision (Dir. 2011/36 art. 11(2)-(3))
    assert recipients(reported)["hebergement-93"] == "AccommodationRequested"
    outcome = case.send(
        "inspection-travail-93",
        decided(first.envelope.event_id, IdentificationOutcome.IDENTIFIED),
        hours=20,
    )
    # the reporter gets the notice; nobody else: no permit without the person's choice
    assert recipients(outcome) == {"association-93": "IdentificationDecision"}
    assert case.state.status is CaseStatus.SUPPORT_PATHWAY
    assert case.state.reflection_ends is None  # starts with the récépissé (R425-2)
    assert case.state.pathway.identified_at == NOW + timedelta(hours=20)
    kinds = {d.message_type for d in case.state.open_deadlines()}
    assert "fr.nrm.PermitRequested" not in kinds
    assert "reflection_period_end" not in kinds
    assert "fr.nrm.AccommodationRequested" in kinds
    assert "fr.nrm.PresumedVictimReport" not in kinds
    notice = next(d for d in outcome.deliveries if d.recipient.id == "association-93")
    assert notice.categories == frozenset()


def test_reasonable_grounds_open_the_pathway_and_the_conclusive_decision_follows(
    ctx: Context,
) -> None:
    case = Case(ctx)
    first = report()
    case.send("association-93", first)
    grounds = case.send(
        "inspection-travail-93",
        decided(first.envelope.event_id, IdentificationOutcome.REASONABLE_GROUNDS),
        hours=2,
    )
    assert grounds.refusal is None
    assert case.state.status is CaseStatus.REASONABLE_GROUNDS
    assert case.state.pathway.grounds_at == NOW + timedelta(hours=2)
    assert any(n.decision == "rights pathway opened" for n in grounds.audit)
    # the decision deadline is met; the report stays open for the conclusive decision
    assert "fr.nrm.PresumedVictimReport" not in {
        d.message_type for d in case.state.open_deadlines()
    }
    assert any(r.subject == "fr.nrm.PresumedVictimReport" for r in case.state.requests)
    assert recipients(grounds) == {"association-93": "IdentificationDecision"}
    conclusive = case.send(
        "inspection-travail-93",
        decided(first.envelope.event_id, IdentificationOutcome.IDENTIFIED),
        hours=30,
    )
    assert conclusive.refusal is None
    assert case.state.status is CaseStatus.SUPPORT_PATHWAY
    assert case.state.pathway.grounds_at == NOW + timedelta(hours=2)
    assert not any(r.subject == "fr.nrm.PresumedVictimReport" for r in case.state.requests)
    assert not any(n.decision == "rights pathway opened" for n in conclusive.audit)


def test_a_transfer_after_reasonable_grounds_is_an_invalid_transition(ctx: Context) -> None:
    case = Case(ctx)
    first = report()
    case.send("association-93", first)
    case.send(
        "inspection-travail-93",
        decided(first.envelope.event_id, IdentificationOutcome.REASONABLE_GROUNDS),
    )
    moved = case.send(
        "inspection-travail-93",
        decided(
            first.envelope.event_id,
            IdentificationOutcome.TRANSFERRED,
            transferred_to_role=AgencyRole.POLICE_GENDARMERIE,
        ),
    )
    assert moved.refusal is not None
    assert moved.refusal.reason is DeadLetterReason.INVALID_TRANSITION


def test_not_identified_closes_the_report_with_its_reason(ctx: Context) -> None:
    case = Case(ctx)
    first = report()
    case.send("association-93", first)
    outcome = case.send(
        "inspection-travail-93",
        decided(
            first.envelope.event_id,
            IdentificationOutcome.NOT_IDENTIFIED,
            not_identified_reason=NotIdentifiedReason.INSUFFICIENT_INDICATORS,
        ),
    )
    assert case.state.status is CaseStatus.NOT_IDENTIFIED
    assert case.state.open_deadlines() == []
    assert set(recipients(outcome)) == {"association-93"}


def test_transferred_reroutes_the_report_with_a_fresh_deadline(ctx: Context) -> None:
    case = Case(ctx)
    first = report(exploitation_types=(ExploitationType.SEXUAL,))
    case.send("association-93", first)
    outcome = case.send(
        "police-93",
        decided(
            first.envelope.event_id,
            IdentificationOutcome.TRANSFERRED,
            transferred_to_role=AgencyRole.LABOUR_INSPECTORATE,
        ),
    )
    assert recipients(outcome)["inspection-travail-93"] == "PresumedVictimReport"
    assert case.state.status is CaseStatus.UNDER_IDENTIFICATION
    (deadline,) = case.state.open_deadlines()
    assert deadline.recipient_agency == "inspection-travail-93"


def test_a_transfer_to_an_authority_that_already_has_the_report_sends_no_second_copy(
    ctx: Context,
) -> None:
    case = Case(ctx)
    first = report()
    case.send("association-93", first)
    outcome = case.send(
        "inspection-travail-93",
        decided(
            first.envelope.event_id,
            IdentificationOutcome.TRANSFERRED,
            transferred_to_role=AgencyRole.POLICE_GENDARMERIE,
        ),
    )
    assert "police-93" not in recipients(outcome)
    (deadline,) = case.state.open_deadlines()
    assert deadline.recipient_agency == "police-93"


def test_a_minor_report_reaches_child_protection_without_consent_and_names_the_exception(
    ctx: Context,
) -> None:
    outcome = Case(ctx).send(
        "education-93" if False else "hopital-93", report(minor_suspected=True)
    )
    reached = {d.recipient.id: d for d in outcome.deliveries}
    assert {"ase-93", "parquet-mineurs-93"} <= set(reached)
    assert reached["ase-93"].basis == "exception:child-protection-minor"
    bases = {n.legal_basis for n in outcome.audit if n.action is AuditAction.ROUTED}
    assert "exception:child-protection-minor" in bases


@pytest.mark.parametrize(
    ("sender", "event", "reason"),
    [
        (
            "association-93",
            lambda: report(claims_formal_identification=True),
            DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY,
        ),
        (
            "inspection-travail-93",
            lambda: decided(uuid.uuid4(), IdentificationOutcome.IDENTIFIED),
            DeadLetterReason.INVALID_TRANSITION,
        ),
    ],
)
def test_refusals_on_a_new_case(
    ctx: Context, sender: str, event: object, reason: DeadLetterReason
) -> None:
    outcome = Case(ctx).send(sender, event())  # type: ignore[operator]
    assert outcome.refusal is not None
    assert outcome.refusal.reason is reason


def test_a_decision_from_an_authority_that_was_not_asked_is_refused(ctx: Context) -> None:
    case = Case(ctx)
    first = report(exploitation_types=(ExploitationType.SEXUAL,))
    case.send("association-93", first)
    outcome = case.send(
        "inspection-travail-93",
        decided(first.envelope.event_id, IdentificationOutcome.IDENTIFIED),
    )
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.WRONG_RESPONDER
    assert case.state.status is CaseStatus.UNDER_IDENTIFICATION


def test_closing_twice_is_an_invalid_transition_and_a_new_report_reopens(ctx: Context) -> None:
    case = Case(ctx)
    case.send("association-93", report())
    closed = case.send(
        "association-93",
        CaseClosed(envelope=envelope(), reason=CaseClosedReason.PERSON_UNREACHABLE),
    )
    assert closed.refusal is None
    assert case.state.status is CaseStatus.CLOSED
    assert case.state.open_deadlines() == []
    again = case.send(
        "association-93", CaseClosed(envelope=envelope(), reason=CaseClosedReason.OTHER)
    )
    assert again.refusal is not None
    assert "CLOSED" in again.refusal.detail
    reopened = case.send("association-93", report())
    assert case.state.status is CaseStatus.UNDER_IDENTIFICATION
    assert any(n.reason == "reopened" for n in reopened.audit)
