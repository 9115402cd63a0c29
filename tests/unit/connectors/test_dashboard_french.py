"""French labels and formats of the operators' dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.dashboard import french
from hub.contracts.enums import AgencyRole, DeadLetterReason, EscalationStep


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (datetime(2026, 11, 20, 8, 30, tzinfo=UTC), "20 nov. 2026 09:30"),  # CET, UTC+1
        (datetime(2026, 7, 14, 8, 30, tzinfo=UTC), "14 juil. 2026 10:30"),  # CEST, UTC+2
        (datetime(2026, 2, 1, 23, 5, tzinfo=UTC), "2 févr. 2026 00:05"),  # next day in Paris
        (datetime(2026, 8, 15, 12, 0), "15 août 2026 14:00"),  # naive: taken as UTC
    ],
)
def test_dates_read_as_in_paris(instant: datetime, shown: str) -> None:
    assert french.format_datetime(instant) == shown


def test_every_month_has_its_french_abbreviation() -> None:
    shown = [french.format_date(datetime(2026, m, 15, 12, tzinfo=UTC)) for m in range(1, 13)]
    assert [s.split()[1] for s in shown] == [
        "janv.", "févr.", "mars", "avr.", "mai", "juin",
        "juil.", "août", "sept.", "oct.", "nov.", "déc.",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("duration", "shown"),
    [
        (timedelta(days=3, hours=4, minutes=59), "3 j 4 h"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(seconds=40), "moins d'une minute"),
        (timedelta(days=-1, hours=-2), "1 j 2 h"),
    ],
)
def test_durations_are_short_and_french(duration: timedelta, shown: str) -> None:
    assert french.format_duration(duration) == shown


def test_late_and_held_read_as_sentences() -> None:
    assert french.late_by(timedelta(days=3, hours=4)) == "En retard de 3 j 4 h"
    assert french.held_for(timedelta(hours=5)) == "Depuis 5 h 00 min"


def test_measured_delays_keep_seconds_below_a_minute() -> None:
    assert french.format_seconds(None) == "—"
    assert french.format_seconds(12.7) == "12 s"
    assert french.format_seconds(3600 * 26) == "1 j 2 h"


def test_symbols_have_french_labels_and_unknown_ones_fall_back() -> None:
    assert french.label(french.ROLES, AgencyRole.PREFECTURE) == "Préfecture"
    assert french.label(french.LADDER_STEPS, EscalationStep.SUPERVISOR) == "Superviseur"
    assert french.label(french.DEAD_LETTER_REASONS, "SPOOFED_SENDER") == "Expéditeur usurpé"
    assert french.label(french.ROLES, "A_ROLE_ADDED_LATER") == "A_ROLE_ADDED_LATER"


def test_every_dead_letter_reason_and_role_is_translated() -> None:
    assert {r.value for r in DeadLetterReason} <= set(french.DEAD_LETTER_REASONS)
    assert {r.value for r in AgencyRole} <= set(french.ROLES)
    assert {s.value for s in EscalationStep} <= set(french.LADDER_STEPS)


def test_plural_follows_french_rules() -> None:
    assert french.plural(0, "demande") == "0 demande"
    assert french.plural(1, "demande") == "1 demande"
    assert french.plural(3, "demande") == "3 demandes"
    assert french.plural(2, "besoin orphelin", "besoins orphelins") == "2 besoins orphelins"
