"""`hub overdue` rendering: which requests are late, filtered, as a table or as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from hub.cli.overdue import format_late_by, render_overdue
from hub.contracts.enums import AgencyRole, Urgency
from hub.rules.deadlines.ladder import advance
from hub.rules.deadlines.open_deadline import OpenDeadline, open_deadline, overdue
from hub.rules.deadlines.policy import DeadlinePolicy
from hub.runtime.settings import PROJECT_ROOT

OPENED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris
NOW = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)  # Friday 13:00 in Paris


@pytest.fixture(scope="module")
def deadlines() -> list[OpenDeadline]:
    policy = DeadlinePolicy.load(PROJECT_ROOT / "deploy" / "config" / "deadlines.yaml")
    specs = [
        # (n, recipient, role, message type, département, urgency, minor)
        (1, "hebergement-93", AgencyRole.ACCOMMODATION_PROVIDER,
         "fr.nrm.AccommodationRequested", "93", Urgency.URGENT, True),
        (2, "gendarmerie-57", AgencyRole.POLICE_GENDARMERIE,
         "fr.nrm.PresumedVictimReport", "57", Urgency.ROUTINE, True),
        (3, "prefecture-93", AgencyRole.PREFECTURE,
         "fr.nrm.PermitRequested", "93", Urgency.ROUTINE, False),  # due 10 March: not late
        (4, "association-93", AgencyRole.SUPPORT_ASSOCIATION,
         "fr.nrm.SupportRequested", "93", Urgency.ROUTINE, False),
    ]  # fmt: skip
    opened = [
        open_deadline(
            case_id=UUID(int=n),
            request_id=UUID(int=100 + n),
            recipient_agency=agency,
            recipient_role=role,
            message_type=message_type,
            departement=departement,
            minor=minor,
            urgency=urgency,
            opened_at=OPENED,
            policy=policy,
        )
        for n, agency, role, message_type, departement, urgency, minor in specs
    ]
    return [advance(d, NOW).deadline for d in opened]


def test_only_requests_past_due_are_listed_the_latest_first(
    deadlines: list[OpenDeadline],
) -> None:
    rows = overdue(deadlines, NOW)
    assert [d.recipient_agency for d in rows] == [
        "hebergement-93",  # due Monday 21:00 UTC (12 hours)
        "gendarmerie-57",  # due Wednesday (2 working days)
        "association-93",  # due Thursday (3 working days)
    ]


def test_table_shows_case_recipient_what_due_late_by_and_ladder_step(
    deadlines: list[OpenDeadline],
) -> None:
    table = render_overdue(deadlines, NOW)
    assert "Demandes en retard au 2025-03-07 13:00 CET" in table
    for header in ("dossier", "destinataire", "objet", "échéance", "retard", "palier"):
        assert header in table
    first = next(line for line in table.splitlines() if str(UUID(int=1)) in line)  # whole id
    assert "hebergement-93" in first
    assert "hébergement (urgent," in first  # "mineur)" may wrap below
    assert "2025-03-03 22:00 CET" in first  # shown in Paris time, with the zone
    assert "3 j 15 h" in first
    assert "NATIONAL_COORDINATIO" in first
    assert "(orphelin)" in table
    assert "prefecture-93" not in table


def test_filters_by_agency_role_and_departement(deadlines: list[OpenDeadline]) -> None:
    by_agency = json.loads(render_overdue(deadlines, NOW, agency="gendarmerie-57", as_json=True))
    assert [r["recipient_agency"] for r in by_agency] == ["gendarmerie-57"]
    by_role = json.loads(render_overdue(deadlines, NOW, role="SUPPORT_ASSOCIATION", as_json=True))
    assert [r["recipient_agency"] for r in by_role] == ["association-93"]
    by_dep = json.loads(render_overdue(deadlines, NOW, departement="93", as_json=True))
    assert [r["departement"] for r in by_dep] == ["93", "93"]
    assert "gendarmerie-57" not in render_overdue(deadlines, NOW, departement="93")


def test_json_gives_utc_instants_and_late_by_in_seconds(deadlines: list[OpenDeadline]) -> None:
    records = json.loads(render_overdue(deadlines, NOW, as_json=True))
    first = records[0]
    assert first["case_id"] == str(UUID(int=1))
    assert first["due_at"] == "2025-03-03T21:00:00+00:00"
    assert first["late_by_seconds"] == int(
        (NOW - datetime(2025, 3, 3, 21, tzinfo=UTC)).total_seconds()
    )
    assert first["ladder_step"] == "NATIONAL_COORDINATION"
    assert first["orphaned"] is True
    second = records[1]
    assert (second["ladder_step"], second["next_step"]) == ("SUPERVISOR", "NATIONAL_COORDINATION")
    assert second["need"] == "IDENTIFICATION"


def test_nothing_overdue_says_so(deadlines: list[OpenDeadline]) -> None:
    early = OPENED + timedelta(hours=1)
    assert render_overdue(deadlines, early) == "Aucune demande en retard.\n"
    assert json.loads(render_overdue(deadlines, early, as_json=True)) == []


def test_an_unknown_role_filter_is_refused(deadlines: list[OpenDeadline]) -> None:
    with pytest.raises(ValueError, match="NOT_A_ROLE"):
        render_overdue(deadlines, NOW, role="NOT_A_ROLE")


@pytest.mark.parametrize(
    ("late_by", "text"),
    [
        (timedelta(minutes=12, seconds=30), "12 min"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(days=3, hours=4, minutes=59), "3 j 4 h"),
        (timedelta(0), "0 min"),
    ],
)
def test_late_by_is_short_and_human(late_by: timedelta, text: str) -> None:
    assert format_late_by(late_by) == text
