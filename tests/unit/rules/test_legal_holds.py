"""Legal holds (GDPR art. 17(3)): a table of cases, and the shipped policy's sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.contracts.enums import AgencyRole
from hub.rules.holds import CaseHoldFacts, HoldPolicy, holds_on

CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "config"
POLICY = HoldPolicy.load(CONFIG)
PERMIT = "fr.nrm.PermitRequested"
R = AgencyRole


def facts(
    subjects: set[str] | None = None, roles: set[AgencyRole] | None = None, closed: bool = False
) -> CaseHoldFacts:
    return CaseHoldFacts(frozenset(subjects or ()), frozenset(roles or ()), closed)


@pytest.mark.parametrize(
    ("case", "declared", "expected"),
    [
        (facts(), (), ()),
        (facts({"fr.nrm.SupportRequested"}, {R.SUPPORT_ASSOCIATION}), (), ()),
        (facts({PERMIT}), (), ("PENDING_PERMIT_DECISION",)),
        (facts({PERMIT}, closed=True), (), ("PENDING_PERMIT_DECISION",)),
        (facts(roles={R.POLICE_GENDARMERIE}), (), ("OPEN_PROCEEDINGS",)),
        (facts(roles={R.JUVENILE_PROSECUTOR}), (), ("OPEN_PROCEEDINGS",)),
        (facts(roles={R.POLICE_GENDARMERIE}, closed=True), (), ()),
        (facts(), ("STATUTORY_ARCHIVE",), ("STATUTORY_ARCHIVE",)),
        (facts(), ("SOMETHING_NEW",), ("SOMETHING_NEW",)),  # fail safe: still a hold
        (facts(), ("  ",), ()),
        (
            facts({PERMIT}, {R.JUSTICE}),
            ("STATUTORY_ARCHIVE",),
            ("OPEN_PROCEEDINGS", "PENDING_PERMIT_DECISION", "STATUTORY_ARCHIVE"),
        ),
    ],
)
def test_holds_table(
    case: CaseHoldFacts, declared: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert holds_on(case, declared, POLICY) == expected


def test_every_shipped_hold_cites_gdpr_article_17_3() -> None:
    assert {h.id for h in POLICY.holds} == {
        "PENDING_PERMIT_DECISION",
        "OPEN_PROCEEDINGS",
        "STATUTORY_ARCHIVE",
    }
    for hold in POLICY.holds:
        assert "RGPD art. 17(3)" in hold.source, hold.id
