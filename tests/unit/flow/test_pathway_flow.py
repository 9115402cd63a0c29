"""Assistance without conditions, through the flow (issue 20 item 4; docs/LAW.md AS-1, AS-6).

Dir. 2011/36 art. 11(3): assistance is « pas subordonné à sa volonté de coopérer »; Warsaw
art. 12(6): not conditional on acting as a witness. So accommodation and support go out at
the report, with consent, before any identification; a person who files no complaint and asks
for no permit still gets both; a negative decision cancels nothing, and the hub records the
notice period (hub policy) instead.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import NOW, consent_for, context, envelope, events_for, inbound

from hub.contracts.enums import (
    AgencyRole,
    AuditAction,
    IdentificationOutcome,
    NotIdentifiedReason,
    RightsTopic,
    SupportType,
    Urgency,
)
from hub.contracts.events import (
    AccommodationNeeds,
    IdentificationDecision,
    PathwayChoiceRecorded,
    PresumedVictimReport,
    RightsInformationGiven,
)
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome
from hub.rules.lifecycle import CaseStatus

ROOT = Path(__file__).resolve().parents[3]
ACCOMMODATION = "fr.nrm.AccommodationRequested"
SUPPORT = "fr.nrm.SupportRequested"
NEEDS = AccommodationNeeds(urgency=Urgency.URGENT, preferred_departement="93")


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


class Case:
    def __init__(self, ctx: Context) -> None:
        self.ctx, self.offset = ctx, 0
        self.case_id = uuid.uuid4()
        self.state = CaseState(case_id=self.case_id)

    def send(self, sender: str, event: Any, days: float = 0) -> Outcome:
        self.offset += 1
        at = NOW + timedelta(days=days)
        outcome = handle(
            self.state, inbound(event, sender, self.ctx, self.offset, at), self.ctx, at
        )
        self.state = outcome.state
        return outcome

    def consent(self) -> None:
        consent = consent_for(  # an association's report needs consent too (CPP 40 binds officials)
            AgencyRole.ACCOMMODATION_PROVIDER,
            AgencyRole.SUPPORT_ASSOCIATION,
            AgencyRole.LABOUR_INSPECTORATE,
            case_id=self.case_id,
        )
        assert self.send("association-93", consent).refusal is None

    def report(self, **updates: Any) -> PresumedVictimReport:
        report: PresumedVictimReport = events_for(self.case_id)[PresumedVictimReport]
        return report.model_copy(update={"envelope": envelope(self.case_id), **updates})


def sent(outcome: Outcome, subject: str) -> list[str]:
    return [d.recipient.id for d in outcome.deliveries if d.subject == subject]


def test_accommodation_and_support_go_out_at_the_report_before_any_identification(
    ctx: Context,
) -> None:
    case = Case(ctx)
    case.consent()
    reported = case.send(
        "association-93",
        case.report(accommodation_needs=NEEDS, support_needed=(SupportType.SOCIAL,)),
    )
    assert reported.refusal is None
    assert case.state.status is CaseStatus.UNDER_IDENTIFICATION
    assert sent(reported, ACCOMMODATION) == ["hebergement-93"]
    assert sent(reported, SUPPORT) == ["association-93"]
    assert case.state.pathway.raised == {"accommodation", "support"}


def test_a_negative_decision_cancels_no_assistance_and_records_its_notice_period(
    ctx: Context,
) -> None:
    case = Case(ctx)
    case.consent()
    report = case.report(accommodation_needs=NEEDS, support_needed=(SupportType.SOCIAL,))
    case.send("association-93", report)
    before = {(r.subject, r.recipient) for r in case.state.requests}
    deadlines = {
        d.deadline_id
        for d in case.state.open_deadlines()
        if d.message_type != "fr.nrm.PresumedVictimReport"
    }
    negative = case.send(
        "inspection-travail-93",
        IdentificationDecision(
            envelope=envelope(case.case_id),
            report_event_id=report.envelope.event_id,
            outcome=IdentificationOutcome.NOT_IDENTIFIED,
            not_identified_reason=NotIdentifiedReason.INSUFFICIENT_INDICATORS,
        ),
        days=3,
    )
    assert negative.refusal is None
    assert case.state.status is CaseStatus.NOT_IDENTIFIED
    assert {(ACCOMMODATION, "hebergement-93"), (SUPPORT, "association-93")} <= before
    assert {(r.subject, r.recipient) for r in case.state.requests} == before - {
        ("fr.nrm.PresumedVictimReport", "inspection-travail-93")
    }
    kept = {d.deadline_id for d in case.state.open_deadlines()}
    assert {
        d.deadline_id
        for d in case.state.open_deadlines()
        if d.message_type in (ACCOMMODATION, SUPPORT)
    } == kept
    assert kept
    assert kept <= deadlines
    assert not any(n.action is AuditAction.CANCELLED for n in negative.audit)
    assert sent(negative, ACCOMMODATION) == sent(negative, SUPPORT) == []
    (note,) = [n for n in negative.audit if n.decision.startswith("assistance continues")]
    assert note.legal_basis is not None
    assert note.legal_basis.startswith("hub policy")
    assert case.state.pathway.assistance_notice_ends == NOW + timedelta(days=3 + 30)


def test_a_person_who_files_no_complaint_and_wants_no_permit_still_gets_both(
    ctx: Context,
) -> None:
    case = Case(ctx)
    case.consent()
    case.send("association-93", case.report())  # no needs assessed at the report
    info = RightsInformationGiven(
        envelope=envelope(case.case_id),
        topics=(RightsTopic.RESIDENCE_PERMIT_L425_1, RightsTopic.ACCOMMODATION),
        language="ro",
        interpreter=True,
        given_by_role=AgencyRole.SUPPORT_ASSOCIATION,
    )
    informed = case.send("association-93", info)
    assert "language ro; with interpreter" in (informed.audit[-1].reason or "")
    choice = PathwayChoiceRecorded(
        envelope=envelope(case.case_id),
        information_event_id=info.envelope.event_id,
        reflection_period=False,  # no complaint, no testimony, no permit route
        accommodation_wanted=True,
        support_wanted=True,
        accommodation_needs=NEEDS,
        support_needed=(SupportType.PSYCHOLOGICAL,),
        person=events_for(case.case_id)[PresumedVictimReport].person,
    )
    chosen = case.send("association-93", choice)
    assert chosen.refusal is None
    assert sent(chosen, ACCOMMODATION) == ["hebergement-93"]
    assert sent(chosen, SUPPORT) == ["association-93"]
    assert sent(chosen, "fr.nrm.PermitRequested") == []


NON_COOPERATION = re.compile(r"COOPERAT|PERSON_DECLINED|COMPLAINT_REFUSED|NO_COMPLAINT|WITNESS")


def test_no_enum_symbol_or_rule_reads_as_not_cooperating() -> None:
    enums = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "schemas" / "avro").glob("*.avsc"))
    ]
    symbols = [s for e in enums if e["type"] == "enum" for s in e["symbols"]]
    assert "INSUFFICIENT_INDICATORS" in symbols  # the scan reads the real enums
    # a permit for a witness (L425-1) is a right, not a condition on assistance
    suspicious = [
        s for s in symbols if NON_COOPERATION.search(s) and s != "RESIDENCE_PERMIT_WITNESS"
    ]
    assert suspicious == []
    for name in ("pathway.yaml", "lifecycle.yaml", "routing.yaml", "consent.yaml"):
        text = (ROOT / "deploy" / "config" / name).read_text(encoding="utf-8").lower()
        assert "declined" not in text.replace("declined_by", "")
        assert "cooperat" not in text.replace("not conditional", "")
