"""Who is in the CESEDA victim-permit route (docs/LAW.md §9), one case per member state.

Written from the texts, not the code: L110-3 (a foreigner is anyone without French
nationality, stateless included), L110-4 with L200-2/L200-3 and L231-1 (EU, EEA and Swiss
nationals are under Book II and need no residence permit; one such nationality is enough).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.contracts.enums import ImmigrationStatus
from hub.rules.nationality import FREE_MOVEMENT, Route, permit_route

LAW = Path(__file__).resolve().parents[3] / "docs" / "LAW.md"

# The list as the texts give it, typed here by hand rather than read from the module: the
# 26 member states besides France (TEU art. 52 as amended, Croatia in, the UK out), the
# three EEA states and Switzerland (L200-3), with their ISO 3166-1 codes.
MEMBER_STATES = {
    "Austria": ("AUT", "AT"),
    "Belgium": ("BEL", "BE"),
    "Bulgaria": ("BGR", "BG"),
    "Croatia": ("HRV", "HR"),
    "Cyprus": ("CYP", "CY"),
    "Czechia": ("CZE", "CZ"),
    "Denmark": ("DNK", "DK"),
    "Estonia": ("EST", "EE"),
    "Finland": ("FIN", "FI"),
    "Germany": ("DEU", "DE"),
    "Greece": ("GRC", "GR"),
    "Hungary": ("HUN", "HU"),
    "Ireland": ("IRL", "IE"),
    "Italy": ("ITA", "IT"),
    "Latvia": ("LVA", "LV"),
    "Lithuania": ("LTU", "LT"),
    "Luxembourg": ("LUX", "LU"),
    "Malta": ("MLT", "MT"),
    "Netherlands": ("NLD", "NL"),
    "Poland": ("POL", "PL"),
    "Portugal": ("PRT", "PT"),
    "Romania": ("ROU", "RO"),
    "Slovakia": ("SVK", "SK"),
    "Slovenia": ("SVN", "SI"),
    "Spain": ("ESP", "ES"),
    "Sweden": ("SWE", "SE"),
    "Iceland": ("ISL", "IS"),
    "Liechtenstein": ("LIE", "LI"),
    "Norway": ("NOR", "NO"),
    "Switzerland": ("CHE", "CH"),
}
OTHER_CODES = {"Greece": ("EL",), "Germany": ("D",)}  # EU institutions; ICAO 9303
CASES = [
    pytest.param(code, id=f"{state}-{code}")
    for state, codes in MEMBER_STATES.items()
    for code in (*codes, *OTHER_CODES.get(state, ()))
]


@pytest.mark.parametrize("code", CASES)
def test_a_national_of_a_member_state_gets_no_permit_request(code: str) -> None:
    route = permit_route([code])
    assert route is Route.FREE_MOVEMENT_NATIONAL
    assert not route.needs_residence_permit
    assert permit_route([code.lower()]) is route  # as a form may send it
    # even when the sender thinks the person is irregular
    assert permit_route([code], ImmigrationStatus.IRREGULAR) is route


def test_the_list_is_the_texts_list_no_more_no_less() -> None:
    assert {s.name: (s.alpha_3, s.alpha_2) for s in FREE_MOVEMENT} == MEMBER_STATES


@pytest.mark.parametrize("codes", [["FRA"], ["FR"], ["fr"], ["FRA", "NGA"], ["NG", "FR"]])
def test_a_french_national_is_not_a_foreigner(codes: list[str]) -> None:
    assert permit_route(codes) is Route.FRENCH_NATIONAL
    assert not permit_route(codes).needs_residence_permit


@pytest.mark.parametrize(
    "codes",
    [["ROU", "MDA"], ["MD", "RO"], ["NGA", "DEU"], ["GBR", "IRL"], ["SYR", "XXA", "PT"], [" ro "]],
)
def test_one_eu_eea_swiss_nationality_is_enough(codes: list[str]) -> None:
    assert permit_route(codes) is Route.FREE_MOVEMENT_NATIONAL


@pytest.mark.parametrize(
    "codes", [["NGA"], ["NG"], ["MDA"], ["GBR"], ["GB"], ["UKR", "RUS"], ["CHN"], ["xkx"]]
)
def test_a_third_country_national_is_in_the_permit_route(codes: list[str]) -> None:
    assert permit_route(codes) is Route.THIRD_COUNTRY_NATIONAL
    assert permit_route(codes).needs_residence_permit


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        ([], None),  # the Person schema: "empty when stateless"
        ([], ImmigrationStatus.IRREGULAR),
        (["XXA"], None),  # ICAO 9303 code for a stateless person
    ],
)
def test_a_stateless_person_is_in_the_permit_route(
    codes: list[str], status: ImmigrationStatus | None
) -> None:
    assert permit_route(codes, status) is Route.STATELESS
    assert permit_route(codes, status).needs_residence_permit


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        (None, None),
        (None, ImmigrationStatus.UNKNOWN),
        (None, ImmigrationStatus.OTHER),
        (["ROMANIA"], None),  # not a code: it may be a member state
        (["NGA", "ROM"], None),  # one code not understood is enough to doubt
        (["REU"], None),  # a French overseas department names no nationality
        (["XXX"], ImmigrationStatus.IRREGULAR),  # ICAO "unspecified nationality"
    ],
)
def test_an_unknown_nationality_raises_no_request_on_its_own(
    codes: list[str] | None, status: ImmigrationStatus | None
) -> None:
    assert permit_route(codes, status) is Route.NATIONALITY_UNKNOWN
    assert not permit_route(codes, status).needs_residence_permit


@pytest.mark.parametrize(
    ("status", "route"),
    [
        (ImmigrationStatus.FRENCH_NATIONAL, Route.FRENCH_NATIONAL),
        (ImmigrationStatus.EU_EEA_SWISS_NATIONAL, Route.FREE_MOVEMENT_NATIONAL),
        (ImmigrationStatus.IRREGULAR, Route.THIRD_COUNTRY_NATIONAL),
        (ImmigrationStatus.ASYLUM_SEEKER, Route.THIRD_COUNTRY_NATIONAL),
    ],
)
def test_without_nationalities_the_declared_status_decides(
    status: ImmigrationStatus, route: Route
) -> None:
    assert permit_route(None, status) is route


def test_a_declared_eu_status_wins_over_a_third_country_code() -> None:
    assert permit_route(["NGA"], ImmigrationStatus.EU_EEA_SWISS_NATIONAL) is (
        Route.FREE_MOVEMENT_NATIONAL
    )


def test_every_state_cites_a_row_of_law_md() -> None:
    rows = set(re.findall(r"^\| (NA-\d+) \|", LAW.read_text(encoding="utf-8"), re.MULTILINE))
    assert {s.law_row for s in FREE_MOVEMENT} <= rows
    for state in FREE_MOVEMENT:
        assert f"| {state.alpha_3} | {state.alpha_2} |" in LAW.read_text(encoding="utf-8")


ANY_CODE = st.one_of(
    st.sampled_from(sorted({c for codes in MEMBER_STATES.values() for c in codes})),
    st.sampled_from(["NGA", "MDA", "GBR", "XXA", "XXX", "REU", "FRA", "ROM"]),
    st.text(max_size=4),
)


@given(
    others=st.lists(ANY_CODE, max_size=4),
    member=st.sampled_from([c for codes in MEMBER_STATES.values() for c in codes]),
    status=st.none() | st.sampled_from(list(ImmigrationStatus)),
)
def test_whatever_else_is_said_one_member_state_nationality_means_no_request(
    others: list[str], member: str, status: ImmigrationStatus | None
) -> None:
    assert not permit_route([*others, member], status).needs_residence_permit
