"""French working days per département, for deadlines counted in working days.

Public holidays come from the ``holidays`` package, never from a table written here:
metropolitan France (Corsica included), Alsace-Moselle (57, 67, 68: Good Friday and
26 December as well), and the overseas départements and collectivities, each with its own
abolition-of-slavery day (971 Guadeloupe, 972 Martinique, 973 Guyane, 974 La Réunion,
976 Mayotte; 975 Saint-Pierre-et-Miquelon, 977 Saint-Barthélemy, 978 Saint-Martin).
A working day is Monday to Friday and not a public holiday there.

Conventions (tested in ``tests/unit/rules/test_working_days.py``):

- Days are the département's own days: Europe/Paris for metropolitan France, the local
  time zone overseas (a request sent to La Réunion at 19:00 Réunion time arrived after its
  business day, whatever the time in Paris).
- The day a request arrives does not count (like Code de procédure civile art. 641): the
  deadline ends on the Nth working day **after** the day of receipt, at 23:59:59 local time.
- A request received on a non-working day, or on a working day at or after
  ``business_day_end`` (18:00 by default), is taken as received on the next working day.
  So a request received on Monday 10:00 with 1 working day is due Tuesday 23:59:59; on
  Monday 19:00 it is due Wednesday 23:59:59; on Saturday it is due Tuesday 23:59:59.
- Hours are calendar hours (urgent cases do not wait for Monday).
- Every instant returned is UTC-aware; a naive datetime is refused (the clock is injected
  and must say which instant it means).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays
from holidays.countries.france import France
from pydantic import TypeAdapter

from hub.contracts.enums import Departement

DEFAULT_BUSINESS_DAY_END: Final = time(18, 0)
END_OF_DAY: Final = time(23, 59, 59)

PARIS: Final = ZoneInfo("Europe/Paris")

# The ``holidays`` subdivision for each département that differs from metropolitan France.
_SUBDIVISION: Final[dict[str, str]] = {
    "57": "57",
    "67": "6AE",
    "68": "6AE",
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "975": "PM",
    "976": "976",
    "977": "BL",
    "978": "MF",
}

_ZONE: Final[dict[str, ZoneInfo]] = {
    "971": ZoneInfo("America/Guadeloupe"),
    "972": ZoneInfo("America/Martinique"),
    "973": ZoneInfo("America/Cayenne"),
    "974": ZoneInfo("Indian/Reunion"),
    "975": ZoneInfo("America/Miquelon"),
    "976": ZoneInfo("Indian/Mayotte"),
    "977": ZoneInfo("America/St_Barthelemy"),
    "978": ZoneInfo("America/Marigot"),
}

# No French calendar has more than 4 non-working days in a row (Moselle: Thursday
# 25 December, Friday 26, the weekend); 14 leaves room for any future holiday.
_MAX_NON_WORKING_RUN: Final = 14
MAX_WORKING_DAYS: Final = 1000
"""The largest number of working days a calendar adds or shifts (about four years)."""
_SHIFT_CACHE_SIZE: Final = 4096
"""How many (day, count) shifts one calendar remembers before it starts again."""

_DEPARTEMENT: Final = TypeAdapter(Departement)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: pass an aware instant (UTC)")
    return instant


class WorkingDays:
    """The working-day calendar of one département (holiday years are cached)."""

    __slots__ = ("_holidays", "_shifted", "business_day_end", "departement", "subdivision", "zone")

    def __init__(
        self, departement: str, *, business_day_end: time = DEFAULT_BUSINESS_DAY_END
    ) -> None:
        """Calendar of ``departement`` ('93', '2A', '57', '974', ...); ValueError if unknown."""
        self.departement: str = _DEPARTEMENT.validate_python(departement)
        self.subdivision: str | None = _SUBDIVISION.get(self.departement)
        self.zone: ZoneInfo = _ZONE.get(self.departement, PARIS)
        self.business_day_end: time = business_day_end
        self._holidays: dict[int, frozenset[date]] = {}
        self._shifted: dict[tuple[date, int], date] = {}

    def __repr__(self) -> str:
        return f"WorkingDays({self.departement!r}, zone={self.zone.key})"

    def holidays(self, year: int) -> frozenset[date]:
        """The public holidays of ``year`` in this département (cached per year)."""
        cached = self._holidays.get(year)
        if cached is None:
            if not France.start_year <= year <= France.end_year:
                raise ValueError(
                    f"year {year} is outside the holiday calendar "
                    f"({France.start_year}–{France.end_year})"
                )
            calendar = holidays.country_holidays("FR", subdiv=self.subdivision, years=year)
            cached = frozenset(calendar.keys())
            self._holidays[year] = cached
        return cached

    def is_working_day(self, day: date) -> bool:
        """True from Monday to Friday when ``day`` is not a public holiday here."""
        return day.weekday() < 5 and day not in self.holidays(day.year)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self._step(day, 1)

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        return self._step(day, -1)

    def _step(self, day: date, direction: int) -> date:
        candidate = day
        for _ in range(_MAX_NON_WORKING_RUN + 1):
            candidate += timedelta(days=direction)
            if self.is_working_day(candidate):
                return candidate
        raise RuntimeError(f"no working day within {_MAX_NON_WORKING_RUN} days of {day}")

    def _shift_day(self, day: date, n: int) -> date:
        """The ``n``th working day after ``day`` (before it if ``n < 0``; ``day`` if 0).

        Cached: a pure function of the day and this calendar's holidays, asked again for every
        deadline opened on the same day (the cache is cleared when it grows too large)."""
        key = (day, n)
        shifted = self._shifted.get(key)
        if shifted is None:
            shifted = day
            direction = 1 if n > 0 else -1
            for _ in range(abs(n)):
                shifted = self._step(shifted, direction)
            if len(self._shifted) >= _SHIFT_CACHE_SIZE:
                self._shifted.clear()
            self._shifted[key] = shifted
        return shifted

    def local(self, instant: datetime) -> datetime:
        """``instant`` in this département's time zone."""
        return _aware(instant).astimezone(self.zone)

    def receipt_day(self, received: datetime) -> date:
        """The working day a request received at ``received`` counts as received on: the
        same day on a working day before ``business_day_end``, else the next working day."""
        local = self.local(received)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.business_day_end:
            return day
        return self.next_working_day(day)

    def end_of_day(self, day: date) -> datetime:
        """23:59:59 local time on ``day``, as a UTC instant."""
        return datetime.combine(day, END_OF_DAY, tzinfo=self.zone).astimezone(UTC)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """When a request received at ``start`` with ``n`` working days is due: 23:59:59 local
        on the Nth working day after its receipt day (``n == 0``: the receipt day itself)."""
        _check_count(n, allow_negative=False)
        return self.end_of_day(self._shift_day(self.receipt_day(start), n))

    def shift_working_days(self, instant: datetime, n: int) -> datetime:
        """The same local wall-clock time ``n`` working days later (earlier if ``n < 0``).

        Used for the ladder: "one working day after a due instant of Friday 23:59:59" is
        Monday 23:59:59 (Tuesday after Easter Monday); ``n == 0`` returns ``instant``.
        """
        _check_count(n, allow_negative=True)
        local = self.local(instant)
        if n == 0:
            return local.astimezone(UTC)
        return datetime.combine(self._shift_day(local.date(), n), local.timetz()).astimezone(UTC)

    def add_calendar_days(self, start: datetime, n: int) -> datetime:
        """23:59:59 local on the Nth calendar day after ``start``'s local date (periods such
        as the 30-day reflection period count every day; the start day does not count)."""
        _check_count(n, allow_negative=True)
        return self.end_of_day(self.local(start).date() + timedelta(days=n))

    def add_hours(self, start: datetime, n: float) -> datetime:
        """``start`` plus ``n`` calendar hours, as a UTC instant (urgent cases)."""
        return (_aware(start) + timedelta(hours=n)).astimezone(UTC)


def _check_count(n: int, *, allow_negative: bool) -> None:
    low = -MAX_WORKING_DAYS if allow_negative else 0
    if not low <= n <= MAX_WORKING_DAYS:
        raise ValueError(f"{n} days is outside [{low}, {MAX_WORKING_DAYS}]")


@lru_cache(maxsize=256)
def working_days_for(
    departement: str, business_day_end: time = DEFAULT_BUSINESS_DAY_END
) -> WorkingDays:
    """The shared calendar of ``departement`` (one per process, so holiday years are
    computed once)."""
    return WorkingDays(departement, business_day_end=business_day_end)
