"""Erasure requests (``/effacements``): pending requests, restricted and erased cases.

The requests are decided by the worker (``hub/flow/erasure.py``) and approved or rejected by a
data-protection officer, here (``erasure_decisions``) or with ``hub erase approve``
(docs/PRIVACY.md); this page shows what waits for a data-protection
officer, and what came of the earlier ones, from the case states of the read model. Roles
without ``VIEW_ERASURES`` get 403 (``hub/rules/roles.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from connectors.dashboard import french, views
from connectors.dashboard.access import require
from connectors.dashboard.context import CurrentDashboard, Dashboard, DataSession, PageSession
from hub.rules.holds import HoldPolicy
from hub.rules.roles import Permission

router = APIRouter()
NOTICES = {
    "envoyee": "Décision envoyée au hub ; le worker l'applique (la liste se met à jour).",
    "erreur": "L'envoi de la décision a échoué ; rien n'a été écrit. Réessayez.",
}
"""What the page says after a decision (``?decision=...``, set by ``erasure_decisions``)."""


def erasures_context(dashboard: Dashboard) -> dict[str, Any]:
    """Pending requests (oldest first), restricted cases, and how many cases were erased."""
    states = dashboard.model.states
    pending = sorted(
        (
            {
                "request_id": str(p.request_id),
                "case_id": str(s.case_id),
                "case_short": views.short(s.case_id),
                "requested_by": p.requested_by,
                "reason": p.reason,
                "requested_at": p.requested_at.isoformat(),
                "requested_text": french.format_datetime(p.requested_at),
            }
            for s in states
            for p in s.erasure_requests
        ),
        key=lambda row: row["requested_at"],
    )
    restricted = [
        {
            "case_id": str(s.case_id),
            "case_short": views.short(s.case_id),
            "holds": list(s.restricted.holds),
            "since_text": french.format_datetime(s.restricted.since),
        }
        for s in states
        if s.restricted is not None
    ]
    holds = HoldPolicy.load(dashboard.settings.config_dir).holds
    return {
        "pending": pending,
        # What a DPO may declare when approving (the others the worker finds itself).
        "declared_holds": [h.id for h in holds if h.when == "declared"],
        "restricted": restricted,
        "erased": sum(1 for s in states if s.erased_at is not None),
    }


@router.get("/effacements", response_class=HTMLResponse)
async def erasures(request: Request, session: PageSession, dashboard: CurrentDashboard) -> Response:
    await require(dashboard, session, Permission.VIEW_ERASURES)
    context = erasures_context(dashboard)
    context["notice"] = NOTICES.get(request.query_params.get("decision", ""))
    return dashboard.render(request, "erasures.html", context, session=session)


@router.get("/api/effacements")
async def erasures_json(session: DataSession, dashboard: CurrentDashboard) -> JSONResponse:
    await require(dashboard, session, Permission.VIEW_ERASURES)
    return JSONResponse(erasures_context(dashboard))
