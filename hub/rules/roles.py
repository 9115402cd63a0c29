"""Operator roles, least privilege: what each role of ``operators.yaml`` may see and do.

Four roles (issue 21 item 6): national coordination (every case, acts), regional
coordination (the cases of its région only, acts on them), auditor (reads everything, changes
nothing) and data-protection officer (approves or refuses erasure requests; reads the case it
decides on). Everything a role may do is listed in ``PERMISSIONS``; anything not listed is
refused. A case whose département is unknown is outside every région (fail closed).

The roster (``OperatorRoster``) reads only ids, roles and régions from ``operators.yaml``: the
worker checks the four-eyes rule of erasure with it without ever seeing a password hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, model_validator

from hub.runtime.config_files import load_config

OPERATORS_FILE: Final = "operators.yaml"


class OperatorRole(StrEnum):
    """What an operator is there for."""

    NATIONAL_COORDINATION = "NATIONAL_COORDINATION"
    REGIONAL_COORDINATION = "REGIONAL_COORDINATION"
    AUDITOR = "AUDITOR"
    DATA_PROTECTION_OFFICER = "DATA_PROTECTION_OFFICER"


class Permission(StrEnum):
    """One thing an operator may see or do."""

    VIEW_OVERVIEW = "VIEW_OVERVIEW"
    """Overdue answers, holds, orphaned needs, dead letters (a regional role: its région's)."""
    VIEW_AGENCIES = "VIEW_AGENCIES"
    VIEW_CASE = "VIEW_CASE"
    """A case's audit trail with its personal data (a regional role: its région's cases)."""
    REDRIVE = "REDRIVE"
    """Re-inject a dead letter."""
    VIEW_ERASURES = "VIEW_ERASURES"
    """Pending erasure requests."""
    REQUEST_ERASURE = "REQUEST_ERASURE"
    APPROVE_ERASURE = "APPROVE_ERASURE"
    """The second pair of eyes: only a data-protection officer, never the requester."""
    VIEW_MONITORING = "VIEW_MONITORING"
    """The coordination committee's national figures (suppressed aggregates, no case)."""
    TRIAGE_REPORTS = "TRIAGE_REPORTS"
    """Read reports from the public and decide for the designated triage body (national)."""


P = Permission
PERMISSIONS: Final[Mapping[OperatorRole, frozenset[Permission]]] = {
    OperatorRole.NATIONAL_COORDINATION: frozenset(
        {P.VIEW_OVERVIEW, P.VIEW_AGENCIES, P.VIEW_CASE, P.REDRIVE}
        | {P.VIEW_ERASURES, P.REQUEST_ERASURE, P.VIEW_MONITORING, P.TRIAGE_REPORTS}
    ),
    OperatorRole.REGIONAL_COORDINATION: frozenset(
        {P.VIEW_OVERVIEW, P.VIEW_AGENCIES, P.VIEW_CASE, P.REDRIVE, P.REQUEST_ERASURE}
    ),
    OperatorRole.AUDITOR: frozenset(
        {P.VIEW_OVERVIEW, P.VIEW_AGENCIES, P.VIEW_CASE, P.VIEW_MONITORING}
    ),
    OperatorRole.DATA_PROTECTION_OFFICER: frozenset(
        {P.VIEW_CASE, P.VIEW_ERASURES, P.REQUEST_ERASURE, P.APPROVE_ERASURE}
    ),
}
"""Each role's permissions; the auditor's are read-only by construction (a test says so)."""

CASE_PERMISSIONS: Final = frozenset({P.VIEW_CASE, P.REDRIVE, P.REQUEST_ERASURE})
"""Permissions exercised on one case: a regional role has them only inside its région."""


class Grant(BaseModel):
    """One operator's role, and the région of a regional role (a code of ``regions.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    role: OperatorRole
    region: str | None = None
    disabled: bool = False

    @model_validator(mode="after")
    def _region_goes_with_the_regional_role(self) -> Grant:
        regional = self.role is OperatorRole.REGIONAL_COORDINATION
        if regional and not self.region:
            raise ValueError(
                f"opérateur {self.id} : le rôle de coordination régionale exige une région"
            )
        if not regional and self.region is not None:
            raise ValueError(f"opérateur {self.id} : seule la coordination régionale a une région")
        return self

    def describe(self) -> str:
        """``ROLE`` or ``ROLE/REGION``, as role changes are recorded."""
        return self.role.value + (f"/{self.region}" if self.region else "")


@dataclass(frozen=True)
class Allowed:
    """The operator may."""


@dataclass(frozen=True)
class Denied:
    """The operator may not, and why (French: it is shown to the operator)."""

    reason: str


Decision = Allowed | Denied


def decide(
    grant: Grant | None,
    permission: Permission,
    *,
    case_region: str | None = None,
    on_case: bool = False,
) -> Decision:
    """May ``grant`` exercise ``permission`` (on a case of ``case_region`` when ``on_case``)?

    No grant (an operator absent from the roster, or disabled) may do nothing. A regional
    role acts on a case only when the case's région is its own; a case of unknown région is
    nobody's région.
    """
    if grant is None or grant.disabled:
        return Denied("opérateur inconnu ou désactivé")
    if permission not in PERMISSIONS[grant.role]:
        return Denied(f"le rôle {grant.role.value} ne permet pas {permission.value}")
    regional = grant.role is OperatorRole.REGIONAL_COORDINATION
    if regional and on_case and permission in CASE_PERMISSIONS and case_region != grant.region:
        where = case_region or "inconnue"
        return Denied(f"dossier hors de la région {grant.region} (région du dossier : {where})")
    return Allowed()


def sees_region(grant: Grant, region: str | None) -> bool:
    """Whether lists (overview rows) of ``region`` are shown to ``grant``."""
    return grant.role is not OperatorRole.REGIONAL_COORDINATION or region == grant.region


class _RosterFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    operators: tuple[Grant, ...] = ()


class OperatorRoster:
    """Ids, roles and régions of ``operators.yaml`` (password hashes are not read)."""

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self._by_id = {g.id: g for g in grants}

    @classmethod
    def load(cls, config_dir: Path) -> OperatorRoster:
        """The roster of ``config_dir/operators.yaml`` (ConfigError naming each problem)."""
        return cls(load_config(config_dir / OPERATORS_FILE, _RosterFile).operators)

    def grant(self, operator_id: str) -> Grant | None:
        """The enabled operator's grant, if any."""
        grant = self._by_id.get(operator_id)
        return grant if grant is not None and not grant.disabled else None

    def __iter__(self) -> Iterator[Grant]:
        return iter(self._by_id.values())


def four_eyes(requested_by: str, approver: Grant | None) -> Decision:
    """The erasure approval rule: a data-protection officer, never the requester."""
    if approver is not None and approver.id == requested_by:
        return Denied("quatre yeux : la personne qui a demandé l'effacement ne peut l'approuver")
    return decide(approver, Permission.APPROVE_ERASURE)
