"""A report from the public as the flow decides it, without a broker.

Promises (docs/WITNESS_REPORTS.md): what a witness wrote reaches the designated triage body
and nobody else, with an answer owed under the ordinary deadlines; the public page's key can
say nothing an agency says; nobody else can pretend to be the public.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flow_helpers import NOW, context, envelope, events_for, inbound

from hub.contracts.enums import DataCategory, DeadLetterReason, ExploitationType, Urgency
from hub.contracts.events import PresumedVictimReport
from hub.contracts.witness import WitnessReport, WitnessReportAddendum
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context
from hub.rules.routing import RecipientRule, Selection

INTAKE, TRIAGE = "signalement-public", "cellule-signalements"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


def report(case_id: uuid.UUID, **updates: object) -> WitnessReport:
    return WitnessReport(
        envelope=envelope(case_id),
        departement="93",
        urgency=Urgency.UNKNOWN,
        exploitation_types=(ExploitationType.LABOUR,),
        anonymous=False,
        what_was_seen="Des ouvriers dorment dans l'atelier, leurs passeports confisqués.",
        place="rue des Lilas, Bobigny",
        reporter_name="Témoin",
        reporter_contact="temoin@example.org",
    ).model_copy(update=updates)


def test_a_report_reaches_the_triage_body_only_with_what_was_seen_and_an_answer_owed(
    ctx: Context,
) -> None:
    case_id = uuid.uuid4()
    outcome = handle(CaseState(case_id=case_id), inbound(report(case_id), INTAKE, ctx), ctx, NOW)
    assert outcome.refusal is None
    assert [d.recipient.id for d in outcome.deliveries] == [TRIAGE]
    delivered = outcome.deliveries[0]
    assert delivered.categories == {DataCategory.EXPLOITATION_DETAILS, DataCategory.CONTACT}
    assert delivered.record["what_was_seen"].startswith("Des ouvriers")
    assert delivered.record["reporter_contact"] == "temoin@example.org"
    assert "report-from-the-public" in delivered.basis
    (deadline,) = outcome.opened
    assert deadline.recipient_agency == TRIAGE
    assert deadline.due_at - NOW <= timedelta(days=4)  # one working day (a weekend at most)


@pytest.mark.parametrize(
    ("updates", "within"),
    [
        ({"minor_suspected": True}, timedelta(hours=8)),
        ({"immediate_danger": True, "urgency": Urgency.IMMEDIATE_DANGER}, timedelta(hours=2)),
    ],
    ids=["child", "danger"],
)
def test_a_child_or_a_danger_shortens_the_triage_deadline(
    ctx: Context, updates: dict[str, object], within: timedelta
) -> None:
    case_id = uuid.uuid4()
    event = report(case_id, **updates)
    outcome = handle(CaseState(case_id=case_id), inbound(event, INTAKE, ctx), ctx, NOW)
    (deadline,) = outcome.opened
    assert deadline.due_at - NOW <= within


def test_an_addendum_reaches_the_triage_body_on_the_same_case(ctx: Context) -> None:
    case_id = uuid.uuid4()
    state = handle(CaseState(case_id=case_id), inbound(report(case_id), INTAKE, ctx), ctx, NOW)
    more = WitnessReportAddendum(envelope=envelope(case_id), what_was_seen="Un enfant aussi.")
    outcome = handle(state.state, inbound(more, INTAKE, ctx, 1), ctx, NOW)
    assert [d.recipient.id for d in outcome.deliveries] == [TRIAGE]
    assert outcome.deliveries[0].record["what_was_seen"] == "Un enfant aussi."
    assert outcome.opened == ()


def test_the_public_pages_key_cannot_send_what_an_agency_sends(ctx: Context) -> None:
    """An attacker who takes the public server gets its key: a PresumedVictimReport signed
    with it would skip the triage and reach the police under a public official's duty."""
    case_id = uuid.uuid4()
    forged = events_for(case_id)[PresumedVictimReport].model_copy(
        update={"envelope": envelope(case_id)}
    )
    outcome = handle(CaseState(case_id=case_id), inbound(forged, INTAKE, ctx), ctx, NOW)
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION
    assert "reports from the public only" in outcome.refusal.detail
    assert outcome.deliveries == ()


@pytest.mark.parametrize("sender", ["miprof", "police-93", TRIAGE])
def test_nobody_but_the_public_intake_sends_a_witness_report(ctx: Context, sender: str) -> None:
    case_id = uuid.uuid4()
    outcome = handle(CaseState(case_id=case_id), inbound(report(case_id), sender, ctx), ctx, NOW)
    assert outcome.refusal is not None
    assert outcome.refusal.reason is DeadLetterReason.SEMANTIC_VIOLATION
    assert outcome.deliveries == ()


def test_designated_names_agencies_and_only_designated_does() -> None:
    with pytest.raises(ValueError, match="designated"):
        RecipientRule.model_validate({"role": "NATIONAL_COORDINATION", "select": "designated"})
    with pytest.raises(ValueError, match="designated"):
        RecipientRule.model_validate(
            {"role": "PREFECTURE", "select": "prefecture_of_departement", "agencies": ["x-1"]}
        )
    rule = RecipientRule.model_validate(
        {"role": "NATIONAL_COORDINATION", "select": "designated", "agencies": [TRIAGE]}
    )
    assert rule.select is Selection.DESIGNATED
