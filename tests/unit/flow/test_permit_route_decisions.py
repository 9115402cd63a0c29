"""A permit request follows the person's recorded choice, never a decision (issue 20 item 2).

CESEDA R425-2: the récépissé is for the foreigner "qui choisit de bénéficier du délai de
réflexion" after the police's information (R425-1). Identification alone asks the prefecture
nothing; a recorded choice asks it once, and only with consent covering identity and
immigration status for the prefecture. A Romanian or French victim gets a clear refusal, never
a request (CESEDA L110-3, L110-4, L231-1: docs/LAW.md NA-1 … NA-5).
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
    ImmigrationStatus,
    PermitType,
    RightsTopic,
)
from hub.contracts.events import (
    IdentificationDecision,
    PathwayChoiceRecorded,
    PermitRequested,
    PresumedVictimReport,
    RightsInformationGiven,
)
from hub.flow.case_flow import handle
from hub.flow.case_state import CaseState
from hub.flow.decisions import Context, Outcome

PERMIT = "fr.nrm.PermitRequested"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return context()


class Case:
    """A sexual-exploitation report by the association, and what follows, event by event."""

    def __init__(
        self,
        ctx: Context,
        nationalities: tuple[str, ...] | None,
        status: ImmigrationStatus | None = ImmigrationStatus.IRREGULAR,
    ) -> None:
        self.ctx, self.offset = ctx, 0
        self.case_id = uuid.uuid4()
        self.state = CaseState(case_id=self.case_id)
        report = events_for(self.case_id)[PresumedVictimReport]
        assert report.person is not None
        self.person = report.person.model_copy(
            update={"nationalities": nationalities, "immigration_status": status}
        )
        self.report = report.model_copy(
            update={
                "envelope": envelope(self.case_id),
                "exploitation_types": (ExploitationType.SEXUAL,),
                "person": self.person,
            }
        )

    def send(self, sender: str, event: Any) -> Outcome:
        self.offset += 1
        outcome = handle(self.state, inbound(event, sender, self.ctx, self.offset), self.ctx, NOW)
        self.state = outcome.state
        return outcome

    def identified(self) -> Outcome:
        # The association recorded the adult's consent to tell the police (docs/LAW.md CA-3).
        told = consent_for(AgencyRole.POLICE_GENDARMERIE, case_id=self.case_id)
        assert self.send("association-93", told).refusal is None
        assert self.send("association-93", self.report).refusal is None
        outcome = self.send(
            "police-93",
            IdentificationDecision(
                envelope=envelope(self.case_id),
                report_event_id=self.report.envelope.event_id,
                outcome=IdentificationOutcome.IDENTIFIED,
            ),
        )
        assert outcome.refusal is None
        return outcome

    def informed(
        self,
        *topics: RightsTopic,
        by: AgencyRole = AgencyRole.POLICE_GENDARMERIE,
    ) -> uuid.UUID:
        info = RightsInformationGiven(
            envelope=envelope(self.case_id),
            topics=topics or (RightsTopic.REFLECTION_PERIOD, RightsTopic.ASYLUM),
            language="en",
            given_by_role=by,
        )
        assert self.send("association-93", info).refusal is None
        return info.envelope.event_id

    def choice(self, information: uuid.UUID, **fields: Any) -> PathwayChoiceRecorded:
        values: dict[str, Any] = {"reflection_period": True, "person": self.person}
        values.update(fields)
        return PathwayChoiceRecorded(
            envelope=envelope(self.case_id), information_event_id=information, **values
        )

    def consent(self) -> Outcome:
        return self.send(
            "association-93",
            consent_for(
                AgencyRole.PREFECTURE,
                categories=(DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS),
                case_id=self.case_id,
            ),
        )


def permits(outcome: Outcome) -> list[str]:
    """Every trace of a permit request: delivered, published, held or awaited."""
    traces = [d.recipient.id for d in outcome.deliveries if d.subject == PERMIT]
    traces += [p.topic for p in outcome.published if "PermitRequested" in f"{p.subject}{p.record}"]
    traces += [r.recipient for r in outcome.state.requests if r.subject == PERMIT]
    traces += [h.subject for h in outcome.state.holds if h.subject == PERMIT]
    return traces


@pytest.mark.parametrize(
    ("nationalities", "status"),
    [
        (("NGA",), ImmigrationStatus.IRREGULAR),
        ((), None),
        (("ROU",), ImmigrationStatus.IRREGULAR),
        (None, ImmigrationStatus.UNKNOWN),
    ],
    ids=["nigerian", "stateless", "romanian", "unknown"],
)
def test_identification_alone_asks_the_prefecture_nothing(
    ctx: Context, nationalities: tuple[str, ...] | None, status: ImmigrationStatus | None
) -> None:
    case = Case(ctx, nationalities, status)
    case.consent()  # even with the person's consent for the prefecture
    assert permits(case.identified()) == []
    assert case.state.reflection_ends is None


@pytest.mark.parametrize(
    ("nationalities", "status"),
    [
        (("NGA",), ImmigrationStatus.IRREGULAR),
        ((), None),
        (None, ImmigrationStatus.IRREGULAR),
        (None, ImmigrationStatus.UNKNOWN),  # unknown to the hub, known to the person
    ],
    ids=["nigerian", "stateless", "irregular-no-nationality", "unknown"],
)
def test_the_choice_and_consent_send_exactly_one_permit_request_with_two_categories(
    ctx: Context, nationalities: tuple[str, ...] | None, status: ImmigrationStatus | None
) -> None:
    case = Case(ctx, nationalities, status)
    case.identified()
    chosen = case.send("association-93", case.choice(case.informed()))
    assert chosen.refusal is None
    assert chosen.deliveries == ()  # held: no consent yet
    assert [h.recipient for h in case.state.holds if h.subject == PERMIT] == ["prefecture-93"]
    released = case.consent()
    (permit,) = [d for d in released.deliveries if d.subject == PERMIT]
    assert permit.recipient.id == "prefecture-93"
    assert permit.categories == {DataCategory.IDENTITY, DataCategory.IMMIGRATION_STATUS}
    assert permit.record["permit_type"] == PermitType.REFLECTION_PERIOD_RECEIPT.value
    assert permit.record["person"]["health_needs"] is None
    again = case.send("association-93", case.choice(case.informed()))
    assert [d for d in again.deliveries if d.subject == PERMIT] == []  # never twice


@pytest.mark.parametrize(
    "nationalities", [("ROU",), ("RO",), ("ROU", "MDA"), ("FRA", "NGA"), ("DEU",)]
)
def test_a_romanian_or_french_victims_choice_of_a_permit_is_refused_clearly(
    ctx: Context, nationalities: tuple[str, ...]
) -> None:
    case = Case(ctx, nationalities)
    case.consent()
    case.identified()
    refused = case.send("association-93", case.choice(case.informed()))
    assert refused.refusal is not None
    assert refused.refusal.reason is DeadLetterReason.NOT_IN_PERMIT_ROUTE
    assert "L231-1" in refused.refusal.detail
    assert permits(refused) == []
    # nor may an agency ask on its own
    direct = events_for(case.case_id)[PermitRequested].model_copy(
        update={"envelope": envelope(case.case_id), "person": case.person}
    )
    blocked = case.send("association-93", direct)
    assert blocked.refusal is not None
    assert blocked.refusal.reason is DeadLetterReason.NOT_IN_PERMIT_ROUTE


def test_a_choice_without_recorded_information_is_refused(ctx: Context) -> None:
    case = Case(ctx, ("NGA",))
    case.identified()
    refused = case.send("association-93", case.choice(uuid.uuid4()))
    assert refused.refusal is not None
    assert refused.refusal.reason is DeadLetterReason.NOT_CHOSEN


def test_a_person_who_declines_every_permit_is_not_overridden_by_an_agency(
    ctx: Context,
) -> None:
    case = Case(ctx, ("NGA",))
    case.consent()
    case.identified()
    declined = case.send("association-93", case.choice(case.informed(), reflection_period=False))
    assert declined.refusal is None
    assert permits(declined) == []
    direct = events_for(case.case_id)[PermitRequested].model_copy(
        update={"envelope": envelope(case.case_id), "person": case.person}
    )
    blocked = case.send("police-93", direct)
    assert blocked.refusal is not None
    assert blocked.refusal.reason is DeadLetterReason.NOT_CHOSEN
    # the person may change their mind
    changed = case.send("association-93", case.choice(case.informed()))
    assert [d.recipient.id for d in changed.deliveries if d.subject == PERMIT] == ["prefecture-93"]


ROUTES = [
    (PermitType.RESIDENCE_PERMIT_COMPLAINANT, RightsTopic.RESIDENCE_PERMIT_L425_1, "CESEDA L425-1"),
    (PermitType.RESIDENT_CARD_AFTER_CONVICTION, RightsTopic.RESIDENT_CARD_L425_3, "CESEDA L425-3"),
    (PermitType.EXIT_PATHWAY_AUTHORISATION, RightsTopic.EXIT_PATHWAY_L425_4, "CESEDA L425-4"),
]


@pytest.mark.parametrize(("permit_type", "topic", "route"), ROUTES)
def test_each_route_is_asked_with_its_own_legal_basis(
    ctx: Context, permit_type: PermitType, topic: RightsTopic, route: str
) -> None:
    case = Case(ctx, ("NGA",))
    case.consent()
    case.identified()
    chosen = case.send(
        "association-93",
        case.choice(case.informed(topic), reflection_period=False, permit_type=permit_type),
    )
    (permit,) = [d for d in chosen.deliveries if d.subject == PERMIT]
    assert permit.record["permit_type"] == permit_type.value
    assert permit.record["legal_basis"].startswith(route)


@pytest.mark.parametrize(("permit_type", "topic", "route"), ROUTES)
def test_a_route_the_person_was_not_informed_of_is_not_a_choice(
    ctx: Context, permit_type: PermitType, topic: RightsTopic, route: str
) -> None:
    case = Case(ctx, ("NGA",))
    case.consent()
    case.identified()
    uninformed = case.send(
        "association-93",
        case.choice(
            case.informed(RightsTopic.REFLECTION_PERIOD),
            reflection_period=False,
            permit_type=permit_type,
        ),
    )
    assert uninformed.refusal is not None
    assert uninformed.refusal.reason is DeadLetterReason.NOT_CHOSEN
    assert topic.value in uninformed.refusal.detail
    assert permits(uninformed) == []
    reflection = case.send("association-93", case.choice(case.informed(RightsTopic.ACCOMMODATION)))
    assert reflection.refusal is not None
    assert "REFLECTION_PERIOD" in reflection.refusal.detail


AGENCY_PERMIT_CASES = [
    # (what the person chose before the agency asks: None = no choice recorded, the type
    #  the agency asks for, whether it may pass)
    (None, PermitType.REFLECTION_PERIOD_RECEIPT, False),
    (None, PermitType.RESIDENCE_PERMIT_COMPLAINANT, False),
    ({"reflection_period": False}, PermitType.REFLECTION_PERIOD_RECEIPT, False),
    ({"reflection_period": True}, PermitType.RESIDENCE_PERMIT_COMPLAINANT, False),
    ({"reflection_period": True}, PermitType.REFLECTION_PERIOD_RECEIPT, True),
    (
        {"reflection_period": False, "permit_type": PermitType.RESIDENCE_PERMIT_COMPLAINANT},
        PermitType.RESIDENCE_PERMIT_COMPLAINANT,
        True,
    ),
    (
        {"reflection_period": False, "permit_type": PermitType.RESIDENCE_PERMIT_COMPLAINANT},
        PermitType.REFLECTION_PERIOD_RECEIPT,
        False,
    ),
]


@pytest.mark.parametrize(("chose", "asked", "passes"), AGENCY_PERMIT_CASES)
def test_an_agency_asks_the_prefecture_only_for_what_the_person_chose(
    ctx: Context, chose: dict[str, Any] | None, asked: PermitType, passes: bool
) -> None:
    # R425-2: the récépissé goes to the person "qui choisit"; consent alone is not a choice.
    case = Case(ctx, ("NGA",))
    case.consent()
    case.identified()
    if chose is not None:
        information = case.informed(
            RightsTopic.REFLECTION_PERIOD, RightsTopic.RESIDENCE_PERMIT_L425_1
        )
        assert case.send("association-93", case.choice(information, **chose)).refusal is None
    direct = events_for(case.case_id)[PermitRequested].model_copy(
        update={
            "envelope": envelope(case.case_id),
            "person": case.person,
            "permit_type": asked,
            "request_id": uuid.uuid4(),
        }
    )
    before = case.state
    outcome = case.send("police-93", direct)
    if passes:
        assert outcome.refusal is None
        assert [d.recipient.id for d in outcome.deliveries if d.subject == PERMIT] == [
            "prefecture-93"
        ]
    else:
        assert outcome.refusal is not None
        assert outcome.refusal.reason is DeadLetterReason.NOT_CHOSEN
        assert asked.value in outcome.refusal.detail
        assert (outcome.deliveries, outcome.published) == ((), ())
        assert (outcome.state.requests, outcome.state.holds) == (before.requests, before.holds)


def test_the_benchmarks_story_reaches_both_prefectures_and_no_bare_request_passes(
    ctx: Context,
) -> None:
    """bench/pipeline.py, scale.py and soak.py: consent, the person's recorded choice (she
    lives in Paris), then the police's own request for the chosen récépissé in the 93. The
    choice's request goes to prefecture-75, the police's to prefecture-93 (the one counted);
    without the choice the police's request is refused."""
    from hub.contracts.examples import permit_choice, permit_consent

    def story(with_choice: bool) -> list[Outcome]:
        case_id = uuid.uuid4()
        permit = events_for(case_id)[PermitRequested].model_copy(
            update={"envelope": envelope(case_id), "request_id": uuid.uuid4()}
        )
        steps = [permit_consent(case_id, NOW)]
        steps += list(permit_choice(case_id, NOW, "75")) if with_choice else []
        state, outcomes = CaseState(case_id=case_id), []
        for offset, event in enumerate([*steps, permit]):
            outcome = handle(state, inbound(event, "police-93", ctx, offset), ctx, NOW)
            state = outcome.state
            outcomes.append(outcome)
        return outcomes

    *before, own = story(with_choice=True)
    assert [d.recipient.id for o in before for d in o.deliveries if d.subject == PERMIT] == [
        "prefecture-75"
    ]
    assert own.refusal is None
    assert [d.recipient.id for d in own.deliveries] == ["prefecture-93"]
    *_, bare = story(with_choice=False)
    assert bare.refusal is not None
    assert bare.refusal.reason is DeadLetterReason.NOT_CHOSEN
