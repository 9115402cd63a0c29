"""Operator roles, least privilege (issue 21 item 6): a table of who may do what, where."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.rules.roles import (
    PERMISSIONS,
    Allowed,
    Denied,
    Grant,
    OperatorRole,
    OperatorRoster,
    Permission,
    decide,
    four_eyes,
    sees_region,
)
from hub.runtime.config_files import ConfigError

CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "config"
R = OperatorRole
P = Permission
NATIONAL = Grant(id="nat", role=R.NATIONAL_COORDINATION)
IDF = Grant(id="idf", role=R.REGIONAL_COORDINATION, region="IDF")
AUDITOR = Grant(id="aud", role=R.AUDITOR)
DPO = Grant(id="dpo", role=R.DATA_PROTECTION_OFFICER)
DPO_2 = Grant(id="dpo2", role=R.DATA_PROTECTION_OFFICER)
GONE = Grant(id="gone", role=R.NATIONAL_COORDINATION, disabled=True)

CASES = [
    # grant, permission, case région (None: not about a case), allowed
    (NATIONAL, P.VIEW_CASE, "GES", True),
    (NATIONAL, P.REDRIVE, "IDF", True),
    (NATIONAL, P.APPROVE_ERASURE, None, False),
    (IDF, P.VIEW_CASE, "IDF", True),
    (IDF, P.VIEW_CASE, "GES", False),
    (IDF, P.VIEW_CASE, None, False),  # a case of unknown région is nobody's région
    (IDF, P.REDRIVE, "GES", False),
    (IDF, P.REDRIVE, "IDF", True),
    (IDF, P.REQUEST_ERASURE, "GES", False),
    (IDF, P.VIEW_ERASURES, None, False),
    (IDF, P.APPROVE_ERASURE, None, False),
    (AUDITOR, P.VIEW_CASE, "GES", True),
    (AUDITOR, P.VIEW_OVERVIEW, None, True),
    (AUDITOR, P.REDRIVE, "IDF", False),
    (AUDITOR, P.REQUEST_ERASURE, "IDF", False),
    (AUDITOR, P.APPROVE_ERASURE, None, False),
    (DPO, P.APPROVE_ERASURE, None, True),
    (DPO, P.VIEW_CASE, "IDF", True),
    (DPO, P.REDRIVE, "IDF", False),
    (DPO, P.VIEW_OVERVIEW, None, False),
    (GONE, P.VIEW_OVERVIEW, None, False),
    (None, P.VIEW_OVERVIEW, None, False),
]


@pytest.mark.parametrize(("grant", "permission", "region", "allowed"), CASES)
def test_each_role_may_do_exactly_what_the_table_says(
    grant: Grant | None, permission: Permission, region: str | None, allowed: bool
) -> None:
    on_case = permission in (P.VIEW_CASE, P.REDRIVE, P.REQUEST_ERASURE)
    decision = decide(grant, permission, case_region=region, on_case=on_case)
    assert isinstance(decision, Allowed) is allowed, decision


def test_the_auditor_changes_nothing() -> None:
    changing = {P.REDRIVE, P.REQUEST_ERASURE, P.APPROVE_ERASURE}
    assert not PERMISSIONS[R.AUDITOR] & changing


def test_only_a_data_protection_officer_approves_erasure() -> None:
    approvers = {role for role, allowed in PERMISSIONS.items() if P.APPROVE_ERASURE in allowed}
    assert approvers == {R.DATA_PROTECTION_OFFICER}


@pytest.mark.parametrize(
    ("requested_by", "approver", "allowed"),
    [
        ("nat", DPO, True),
        ("dpo", DPO, False),  # the requester cannot approve, even as DPO
        ("dpo", DPO_2, True),
        ("nat", NATIONAL, False),
        ("idf", AUDITOR, False),
        ("nat", None, False),
    ],
)
def test_four_eyes(requested_by: str, approver: Grant | None, allowed: bool) -> None:
    decision = four_eyes(requested_by, approver)
    assert isinstance(decision, Allowed) is allowed
    if requested_by == "dpo" and approver is DPO:
        assert isinstance(decision, Denied)
        assert "quatre yeux" in decision.reason


def test_a_regional_role_sees_only_its_region_in_lists() -> None:
    assert sees_region(IDF, "IDF")
    assert not sees_region(IDF, "GES")
    assert not sees_region(IDF, None)
    assert sees_region(NATIONAL, "GES")
    assert sees_region(AUDITOR, None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"role": "REGIONAL_COORDINATION"}, "exige une région"),
        ({"role": "AUDITOR", "region": "IDF"}, "seule la coordination régionale"),
        ({"role": "ROOT"}, "role"),
    ],
)
def test_a_malformed_grant_is_refused(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Grant.model_validate({"id": "x", **fields})


def test_the_roster_reads_roles_not_passwords_and_every_region_exists() -> None:
    roster = OperatorRoster.load(CONFIG)
    regions = set((CONFIG / "regions.yaml").read_text().split())
    grants = list(roster)
    assert {g.role for g in grants} == set(OperatorRole)
    for grant in grants:
        assert not hasattr(grant, "password_hash")
        if grant.region is not None:
            assert f"{grant.region}:" in regions
    assert roster.grant("ancien.operateur") is None  # disabled


def test_an_operators_file_without_roles_is_refused(tmp_path: Path) -> None:
    (tmp_path / "operators.yaml").write_text("operators:\n  - {id: someone, name: S}\n")
    with pytest.raises(ConfigError, match="role"):
        OperatorRoster.load(tmp_path)
