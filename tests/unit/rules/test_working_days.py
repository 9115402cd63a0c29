"""French working days per département: holidays, business hours, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.working_days import WorkingDays, working_days_for

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


def local_due(departement: str, received: datetime, n: int) -> datetime:
    calendar = working_days_for(departement)
    return calendar.add_working_days(received, n).astimezone(calendar.zone)


# ------------------------------------------------------------------------------ holidays


def test_friday_before_easter_monday_is_due_tuesday() -> None:
    good_friday_morning = paris(2025, 4, 18, 10, 0)
    assert local_due("75", good_friday_morning, 1) == paris(2025, 4, 22, 23, 59, 59)


@pytest.mark.parametrize("departement", ["57", "67", "68"])
def test_good_friday_is_a_holiday_in_alsace_moselle_so_counting_starts_on_tuesday(
    departement: str,
) -> None:
    good_friday_morning = paris(2025, 4, 18, 10, 0)
    assert local_due(departement, good_friday_morning, 1) == paris(2025, 4, 23, 23, 59, 59)


def test_thursday_before_easter_two_working_days_is_tuesday_in_paris_wednesday_in_moselle() -> None:
    thursday = paris(2025, 4, 17, 9, 0)
    assert local_due("93", thursday, 2) == paris(2025, 4, 22, 23, 59, 59)
    assert local_due("57", thursday, 2) == paris(2025, 4, 23, 23, 59, 59)


def test_christmas_eve_request_is_due_on_26_december_but_29_in_moselle() -> None:
    christmas_eve = paris(2025, 12, 24, 10, 0)
    assert local_due("75", christmas_eve, 1) == paris(2025, 12, 26, 23, 59, 59)
    assert local_due("57", christmas_eve, 1) == paris(2025, 12, 29, 23, 59, 59)


def test_corsica_follows_the_metropolitan_calendar() -> None:
    assert not working_days_for("2A").is_working_day(date(2025, 4, 21))
    assert working_days_for("2B").is_working_day(date(2025, 4, 18))


@pytest.mark.parametrize(
    ("departement", "abolition_day"),
    [
        ("971", date(2025, 5, 27)),  # Guadeloupe
        ("972", date(2025, 5, 22)),  # Martinique
        ("973", date(2025, 6, 10)),  # Guyane
        ("974", date(2024, 12, 20)),  # La Réunion
        ("976", date(2026, 4, 27)),  # Mayotte
        ("978", date(2025, 5, 28)),  # Saint-Martin
    ],
)
def test_overseas_abolition_of_slavery_day_is_a_holiday_only_there(
    departement: str, abolition_day: date
) -> None:
    assert not working_days_for(departement).is_working_day(abolition_day)
    if abolition_day.weekday() < 5:
        assert working_days_for("75").is_working_day(abolition_day)


def test_reunion_request_before_20_december_is_due_after_the_weekend_in_local_time() -> None:
    thursday_morning = datetime(2024, 12, 19, 10, 0, tzinfo=REUNION)
    due = working_days_for("974").add_working_days(thursday_morning, 1)
    assert due.astimezone(REUNION) == datetime(2024, 12, 23, 23, 59, 59, tzinfo=REUNION)
    assert due == datetime(2024, 12, 23, 19, 59, 59, tzinfo=UTC)
    assert local_due("75", thursday_morning, 1) == paris(2024, 12, 20, 23, 59, 59)


def test_overseas_business_hours_are_local() -> None:
    # 19:00 in La Réunion is 16:00 in Paris: after hours there, not here.
    evening_in_reunion = datetime(2025, 3, 3, 19, 0, tzinfo=REUNION)
    assert working_days_for("974").receipt_day(evening_in_reunion) == date(2025, 3, 4)
    assert working_days_for("75").receipt_day(evening_in_reunion) == date(2025, 3, 3)


# ------------------------------------------------------------------- weekends and hours


def test_saturday_request_counts_from_monday_so_one_working_day_is_tuesday() -> None:
    assert local_due("75", paris(2025, 3, 8, 11, 0), 1) == paris(2025, 3, 11, 23, 59, 59)


def test_friday_request_with_one_working_day_is_due_monday() -> None:
    assert local_due("75", paris(2025, 3, 7, 11, 0), 1) == paris(2025, 3, 10, 23, 59, 59)


def test_request_at_or_after_business_day_end_counts_from_the_next_working_day() -> None:
    assert local_due("75", paris(2025, 3, 3, 17, 59, 59), 1) == paris(2025, 3, 4, 23, 59, 59)
    assert local_due("75", paris(2025, 3, 3, 18, 0), 1) == paris(2025, 3, 5, 23, 59, 59)


def test_zero_working_days_is_the_end_of_the_receipt_day() -> None:
    assert local_due("75", paris(2025, 3, 3, 9, 0), 0) == paris(2025, 3, 3, 23, 59, 59)
    assert local_due("75", paris(2025, 3, 8, 9, 0), 0) == paris(2025, 3, 10, 23, 59, 59)


def test_business_day_end_is_configurable() -> None:
    calendar = WorkingDays("75", business_day_end=paris(2025, 1, 1, 16, 0).time())
    assert calendar.receipt_day(paris(2025, 3, 3, 16, 30)) == date(2025, 3, 4)


def test_end_of_day_follows_daylight_saving_time() -> None:
    calendar = working_days_for("75")
    assert calendar.end_of_day(date(2025, 1, 15)) == datetime(2025, 1, 15, 22, 59, 59, tzinfo=UTC)
    assert calendar.end_of_day(date(2025, 7, 15)) == datetime(2025, 7, 15, 21, 59, 59, tzinfo=UTC)


def test_shift_working_days_keeps_the_wall_clock_time_and_skips_holidays() -> None:
    calendar = working_days_for("75")
    friday_end = paris(2025, 4, 18, 23, 59, 59)
    assert calendar.shift_working_days(friday_end, 1) == paris(2025, 4, 22, 23, 59, 59)
    assert calendar.shift_working_days(paris(2025, 4, 22, 23, 59, 59), -2) == paris(
        2025, 4, 17, 23, 59, 59
    )
    assert calendar.shift_working_days(friday_end, 0) == friday_end


def test_hours_are_calendar_hours_across_the_weekend() -> None:
    friday_evening = paris(2025, 3, 7, 22, 0)
    assert working_days_for("75").add_hours(friday_evening, 4) == paris(2025, 3, 8, 2, 0)


def test_calendar_days_end_at_the_end_of_the_last_day() -> None:
    identified = paris(2025, 3, 3, 15, 0)
    end = working_days_for("75").add_calendar_days(identified, 30)
    assert end == paris(2025, 4, 2, 23, 59, 59)


# ------------------------------------------------------------------------------ refusals


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        working_days_for("75").add_working_days(datetime(2025, 3, 3, 10, 0), 1)


@pytest.mark.parametrize("departement", ["20", "99", "96", "979", ""])
def test_unknown_departement_is_refused(departement: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        WorkingDays(departement)


def test_year_outside_the_holiday_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the holiday calendar"):
        working_days_for("75").is_working_day(date(2101, 1, 3))


def test_holiday_years_are_computed_once_per_calendar() -> None:
    calendar = working_days_for("57")
    assert calendar is working_days_for("57")
    assert calendar.holidays(2025) is calendar.holidays(2025)


# ---------------------------------------------------------------------------- properties

DEPARTEMENTS = st.sampled_from(["75", "93", "2A", "57", "67", "971", "973", "974", "976", "978"])
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@given(departement=DEPARTEMENTS, start=INSTANTS, n=st.integers(min_value=0, max_value=40))
def test_due_date_is_a_working_day_at_end_of_day_and_never_before_the_start(
    departement: str, start: datetime, n: int
) -> None:
    calendar = working_days_for(departement)
    due = calendar.add_working_days(start, n)
    local = due.astimezone(calendar.zone)
    assert calendar.is_working_day(local.date())
    assert (local.hour, local.minute, local.second) == (23, 59, 59)
    assert due >= start
    assert due.tzinfo is UTC
    assert calendar.add_working_days(start, n + 1) > due


@given(departement=DEPARTEMENTS, start=INSTANTS, n=st.integers(min_value=-20, max_value=20))
def test_shifting_forth_and_back_from_a_working_day_returns_to_it(
    departement: str, start: datetime, n: int
) -> None:
    calendar = working_days_for(departement)
    on_working_day = calendar.add_working_days(start, 0)
    there = calendar.shift_working_days(on_working_day, n)
    assert calendar.is_working_day(there.astimezone(calendar.zone).date())
    assert calendar.shift_working_days(there, -n) == on_working_day


def _counted(calendar: WorkingDays, day: date, n: int) -> date:
    """The ``n``th working day from ``day``, counted one calendar day at a time."""
    step = timedelta(days=1 if n > 0 else -1)
    counted = 0
    while counted < abs(n):
        day += step
        counted += calendar.is_working_day(day)
    return day


@given(
    departement=DEPARTEMENTS,
    start=INSTANTS,
    days=st.lists(st.integers(min_value=-40, max_value=40), min_size=1, max_size=6),
)
def test_cached_working_day_arithmetic_counts_like_a_day_by_day_count(
    departement: str, start: datetime, days: list[int]
) -> None:
    # One shared calendar asked repeatedly from the same day with other counts: a cache keyed
    # on the day alone, or on the count alone, answers a wrong day here.
    calendar = working_days_for(departement)
    local = calendar.local(start)
    for n in days:
        shifted = calendar.shift_working_days(start, n).astimezone(calendar.zone)
        assert shifted.date() == _counted(calendar, local.date(), n)
        if n >= 0:
            due = calendar.add_working_days(start, n).astimezone(calendar.zone)
            assert due.date() == _counted(calendar, calendar.receipt_day(start), n)
