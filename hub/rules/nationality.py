"""Whether a person is in the CESEDA victim-permit route, from their nationalities.

Read with ``docs/LAW.md`` section 9 (rows NA-1 … NA-7). Everyone without French nationality
is a foreigner for the CESEDA (L110-3), EU, EEA and Swiss nationals included; but the
entry and residence of EU citizens and of the nationals assimilated to them (Iceland,
Liechtenstein, Norway, Switzerland: L200-3) are governed by Book II, the other books apply
to them only as Book II says (L110-4), and they need no residence permit (L231-1). So the
victim permits of Book IV (L425-1 ff.) are not for them, and one such nationality is enough
(L200-2: « toute personne ayant la nationalité d'un Etat membre »). A French dual national is
not a foreigner at all (L110-3). A stateless person is a foreigner and has no Book II
status: they are in the permit route.

When nothing is known of the nationality, or a code is not understood, the hub does not
guess: it raises no permit request to the prefecture (the authority that also decides on
removal) on its own. Those people are not left out of the route; the request then needs a
person who knows the situation, not an inference. That is **hub policy**, the careful
reading, not a text (NA-7).

Pure: no I/O. The data are the member states as the texts list them, with their ISO 3166-1
codes (alpha-3 and alpha-2), plus the few other codes that documents carry for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from hub.contracts.enums import ImmigrationStatus
from hub.rules.iso3166 import ALPHA_2, ALPHA_3, codes


@dataclass(frozen=True)
class State:
    """A state whose nationals are not in the Book IV permit route, and the text that says so."""

    name: str
    alpha_3: str
    alpha_2: str
    law_row: str
    other_codes: tuple[str, ...] = ()

    @property
    def codes(self) -> frozenset[str]:
        """Every code that names this state's nationality."""
        return frozenset((self.alpha_3, self.alpha_2, *self.other_codes))


EU = "NA-3"  # L200-1/L200-2: a citizen of the Union holds the nationality of a member state
ASSIMILATED = "NA-4"  # L200-3: Iceland, Liechtenstein, Norway, Switzerland

FRANCE = State("France", "FRA", "FR", "NA-1")
FREE_MOVEMENT: tuple[State, ...] = (
    State("Austria", "AUT", "AT", EU),
    State("Belgium", "BEL", "BE", EU),
    State("Bulgaria", "BGR", "BG", EU),
    State("Croatia", "HRV", "HR", EU),
    State("Cyprus", "CYP", "CY", EU),
    State("Czechia", "CZE", "CZ", EU),
    State("Denmark", "DNK", "DK", EU),
    State("Estonia", "EST", "EE", EU),
    State("Finland", "FIN", "FI", EU),
    State("Germany", "DEU", "DE", EU, other_codes=("D",)),  # ICAO 9303 travel documents
    State("Greece", "GRC", "GR", EU, other_codes=("EL",)),  # EU institutions' code
    State("Hungary", "HUN", "HU", EU),
    State("Ireland", "IRL", "IE", EU),
    State("Italy", "ITA", "IT", EU),
    State("Latvia", "LVA", "LV", EU),
    State("Lithuania", "LTU", "LT", EU),
    State("Luxembourg", "LUX", "LU", EU),
    State("Malta", "MLT", "MT", EU),
    State("Netherlands", "NLD", "NL", EU),
    State("Poland", "POL", "PL", EU),
    State("Portugal", "PRT", "PT", EU),
    State("Romania", "ROU", "RO", EU),
    State("Slovakia", "SVK", "SK", EU),
    State("Slovenia", "SVN", "SI", EU),
    State("Spain", "ESP", "ES", EU),
    State("Sweden", "SWE", "SE", EU),
    State("Iceland", "ISL", "IS", ASSIMILATED),
    State("Liechtenstein", "LIE", "LI", ASSIMILATED),
    State("Norway", "NOR", "NO", ASSIMILATED),
    State("Switzerland", "CHE", "CH", ASSIMILATED),
)
"""The 26 member states other than France, then the EEA states and Switzerland."""

# ISO codes of territories of these states: they name a place, not a nationality of its
# own (their people mostly hold the state's nationality), so the hub does not read them as
# a third country. Åland; French overseas; Faroe, Greenland; Dutch Caribbean; Svalbard.
TERRITORY_CODES = codes(
    "ALA AX GUF GF GLP GP MTQ MQ MYT YT REU RE SPM PM BLM BL MAF MF NCL NC PYF PF WLF WF "
    "ATF TF FRO FO GRL GL ABW AW CUW CW SXM SX BES BQ SJM SJ BVT BV"
)
KOSOVO_CODES = frozenset({"XK", "XKX"})  # user-assigned codes, outside ISO 3166-1
STATELESS_CODES = frozenset({"XXA"})  # ICAO 9303: stateless person (1954 Convention)
FRENCH_CODES = FRANCE.codes
FREE_MOVEMENT_CODES: frozenset[str] = frozenset().union(*(s.codes for s in FREE_MOVEMENT))
NOT_THIRD_COUNTRY_STATUS = {
    ImmigrationStatus.FRENCH_NATIONAL,
    ImmigrationStatus.EU_EEA_SWISS_NATIONAL,
}
UNKNOWN_STATUS = {ImmigrationStatus.UNKNOWN, ImmigrationStatus.OTHER}


class Route(StrEnum):
    """Why a person is, or is not, in the Book IV victim-permit route (a machine reason)."""

    FRENCH_NATIONAL = "french-national"
    FREE_MOVEMENT_NATIONAL = "eu-eea-swiss-national"
    THIRD_COUNTRY_NATIONAL = "third-country-national"
    STATELESS = "stateless"
    NATIONALITY_UNKNOWN = "nationality-unknown"

    @property
    def needs_residence_permit(self) -> bool:
        """Whether the hub raises the victim-permit request on its own for this person."""
        return self in {Route.THIRD_COUNTRY_NATIONAL, Route.STATELESS}


def normalised(code: str) -> str:
    """A nationality code as the hub compares it: trimmed, upper case."""
    return code.strip().upper()


def permit_route(
    nationalities: Iterable[str] | None, status: ImmigrationStatus | None = None
) -> Route:
    """Where a person with these nationalities (``None``: not known; empty: stateless, as
    the Person schema says) and this declared immigration status stands.

    Any French nationality, or any EU/EEA/Swiss one, takes the person out of the route, and
    so does a declared French or EU/EEA/Swiss status. A code the hub does not understand
    makes the nationality unknown: it might be one of those. With no nationality given, a
    declared third-country status (irregular, asylum seeker, …) puts the person in the route.
    """
    codes = None if nationalities is None else {normalised(c) for c in nationalities}
    if status is ImmigrationStatus.FRENCH_NATIONAL or (codes and codes & FRENCH_CODES):
        return Route.FRENCH_NATIONAL
    if status is ImmigrationStatus.EU_EEA_SWISS_NATIONAL or (codes and codes & FREE_MOVEMENT_CODES):
        return Route.FREE_MOVEMENT_NATIONAL
    if codes is None:
        if status is None or status in UNKNOWN_STATUS:
            return Route.NATIONALITY_UNKNOWN
        return Route.THIRD_COUNTRY_NATIONAL
    codes -= STATELESS_CODES
    if not codes:
        return Route.STATELESS
    if any(not _third_country(c) for c in codes):
        return Route.NATIONALITY_UNKNOWN
    return Route.THIRD_COUNTRY_NATIONAL


def _third_country(code: str) -> bool:
    """A code that names a country outside the EU, the EEA and Switzerland."""
    known = code in ALPHA_3 or code in ALPHA_2 or code in KOSOVO_CODES
    return known and code not in TERRITORY_CODES
