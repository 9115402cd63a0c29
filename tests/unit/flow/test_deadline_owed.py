"""One way to open a deadline an agency owes (``hub.flow.delivery.deadline_owed``): the
conclusive decision, the parents-informed step, the reflection period and every routed request
go through it, so a national agency with no département of its own gets a calendar instead of
an IndexError that stopped the case's flow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flow_helpers import NOW, context

from hub.contracts.enums import AgencyRole
from hub.contracts.examples import CASE_ID
from hub.flow.case_state import CaseState
from hub.flow.delivery import METROPOLITAN_DEFAULT, deadline_owed
from hub.rules.deadlines.policy import CONCLUSIVE_DECISION
from hub.rules.directory import Agency

ctx = context()
REQUEST = CASE_ID


@pytest.mark.parametrize(
    ("agency", "case_departement", "calendar_of"),
    [
        (
            Agency(
                id="police-93", name="P", role=AgencyRole.POLICE_GENDARMERIE, departements=("93",)
            ),
            None,
            "93",
        ),
        (
            Agency(
                id="police-93", name="P", role=AgencyRole.POLICE_GENDARMERIE, departements=("93",)
            ),
            "974",
            "974",
        ),
        (
            Agency(
                id="ocrteh",
                name="Office central",
                role=AgencyRole.POLICE_GENDARMERIE,
                national=True,
            ),
            None,
            METROPOLITAN_DEFAULT,
        ),
    ],
)
def test_the_case_or_the_agency_or_paris_chooses_the_calendar(
    agency: Agency, case_departement: str | None, calendar_of: str
) -> None:
    state = CaseState(case_id=CASE_ID)
    if case_departement is not None:
        state = state.model_copy(
            update={"facts": state.facts.model_copy(update={"departement": case_departement})}
        )
    deadline = deadline_owed(
        state, agency, ctx, NOW, request_id=REQUEST, message_type=CONCLUSIVE_DECISION
    )
    assert deadline is not None
    assert deadline.recipient_agency == agency.id
    assert deadline.departement == calendar_of
    # hub policy HP-24: 30 calendar days, to the end of the day in the calendar's zone
    assert timedelta(days=30) <= deadline.due_at - NOW < timedelta(days=31)


def test_no_rule_for_the_role_is_no_deadline() -> None:
    provider = Agency(id="hebergement-93", name="H", role=AgencyRole.ACCOMMODATION_PROVIDER)
    state = CaseState(case_id=CASE_ID)
    assert (
        deadline_owed(
            state, provider, ctx, NOW, request_id=REQUEST, message_type=CONCLUSIVE_DECISION
        )
        is None
    )
