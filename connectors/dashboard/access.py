"""Every page and action asks here whether the operator's role allows it (hub/rules/roles.py).

``require`` answers 403 with the reason in French (and records ``ACCESS_REFUSED``) when the
role does not allow a permission, or when a regional role reaches for a case of another
région (list pages filter their rows with ``sees_region``). A case's région comes from its
département in the case states the read model holds; a case the read model does not know, or
whose département is unknown, is outside every région (fail closed).
"""

from __future__ import annotations

import uuid

from fastapi import HTTPException

from connectors.dashboard.actions import ActionKind, OperatorAction
from connectors.dashboard.context import Dashboard
from connectors.dashboard.sessions import Session
from hub.rules.roles import Allowed, Grant, Permission, decide


def case_region(dashboard: Dashboard, case_id: uuid.UUID | str | None) -> str | None:
    """The région of a case known to the read model, from its département (None: unknown)."""
    if case_id is None:
        return None
    wanted = uuid.UUID(str(case_id))
    state = next((s for s in dashboard.model.states if s.case_id == wanted), None)
    departement = state.facts.departement if state is not None else None
    return dashboard.model.directory.region_of(departement) if departement else None


async def require(
    dashboard: Dashboard,
    session: Session,
    permission: Permission,
    *,
    case_id: uuid.UUID | None = None,
) -> Grant:
    """The operator's grant when it allows ``permission`` (on ``case_id``); 403 otherwise."""
    grant = dashboard.operators.grant(session.operator_id)
    decision = decide(
        grant,
        permission,
        case_region=case_region(dashboard, case_id),
        on_case=case_id is not None,
    )
    if not isinstance(decision, Allowed) or grant is None:
        reason = getattr(decision, "reason", "refusé")
        await dashboard.actions.try_record(
            OperatorAction(
                action=ActionKind.ACCESS_REFUSED,
                operator=session.operator_id,
                case_id=case_id,
                detail=f"{permission.value}: {reason}",
            )
        )
        raise HTTPException(403, f"Accès refusé : {reason}.")
    return grant
