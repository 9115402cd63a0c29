"""Who sees the coordination committee's monitoring page: national coordination and auditors
(national figures, suppressed); a regional role and the data-protection officer do not."""

from __future__ import annotations

import pytest

from hub.rules.roles import Allowed, Grant, OperatorRole, Permission, decide

R = OperatorRole


@pytest.mark.parametrize(
    ("grant", "allowed"),
    [
        (Grant(id="nat", role=R.NATIONAL_COORDINATION), True),
        (Grant(id="aud", role=R.AUDITOR), True),
        (Grant(id="idf", role=R.REGIONAL_COORDINATION, region="IDF"), False),
        (Grant(id="dpo", role=R.DATA_PROTECTION_OFFICER), False),
        (Grant(id="gone", role=R.NATIONAL_COORDINATION, disabled=True), False),
        (None, False),
    ],
)
def test_monitoring_is_for_national_coordination_and_auditors(
    grant: Grant | None, allowed: bool
) -> None:
    assert isinstance(decide(grant, Permission.VIEW_MONITORING), Allowed) is allowed
