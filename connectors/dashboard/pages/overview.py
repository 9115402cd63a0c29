"""The overview (``/``): overdue answers, consent holds, orphaned needs and dead letters, as a
page, as the fragment the page refreshes, and as JSON (``/api/etat``, ``/api/apercu``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from connectors.dashboard import french, views
from connectors.dashboard.access import require
from connectors.dashboard.context import CurrentDashboard, Dashboard, DataSession, PageSession
from connectors.dashboard.pages.agencies import agencies_context
from hub.rules.roles import Allowed, Denied, Grant, OperatorRole, Permission, decide, sees_region

router = APIRouter()

REDRIVE_NOTICES = {
    "ok": "Lettre morte relancée.",
    "erreur": "La relance a échoué.",
    "impossible": (
        "Relance impossible : lettre morte inconnue, déjà relancée, "
        "ou qu'une relance ne peut pas corriger."
    ),
}
"""What the overview says after a re-drive (``?relance=...``, set by the re-drive action)."""


def overview_context(dashboard: Dashboard, grant: Grant) -> dict[str, Any]:
    """The overview's tables, as of the read model's last refresh, as far as ``grant`` sees:
    a regional role sees the cases of its région only (a dead letter of no known case is
    nobody's région)."""
    now = dashboard.clock()
    model = dashboard.model
    directory = model.directory
    states = [
        s
        for s in model.states
        if sees_region(grant, directory.region_of(s.facts.departement or ""))
    ]
    visible = {s.case_id for s in states}
    everything = grant.role is not OperatorRole.REGIONAL_COORDINATION
    return {
        "overdue": views.overdue_rows(states, now, directory),
        "holds": views.hold_rows(states, now, directory),
        "orphans": views.orphan_rows(
            o for o in model.open_orphans() if everything or o.envelope.case_id in visible
        ),
        "dead_letters": views.dead_letter_rows(
            d for d in model.pending_dead_letters() if everything or d.case_id in visible
        ),
        "redriven": len(model.redriven | model.redrive_requested),
        "dropped": model.dead_letters_dropped,
    }


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, session: PageSession, dashboard: CurrentDashboard) -> Response:
    own = dashboard.operators.grant(session.operator_id)
    dpo_home = (
        own is not None
        and isinstance(decide(own, Permission.VIEW_OVERVIEW), Denied)
        and isinstance(decide(own, Permission.VIEW_ERASURES), Allowed)
    )
    if dpo_home:  # the data-protection officer's home page is the erasure requests
        return RedirectResponse("/effacements", status_code=303)
    grant = await require(dashboard, session, Permission.VIEW_OVERVIEW)
    notice = REDRIVE_NOTICES.get(request.query_params.get("relance", ""))
    context = {
        **overview_context(dashboard, grant),
        "notice": notice,
        "fragment": "/fragments/apercu",
    }
    return dashboard.render(request, "overview.html", context, session=session)


@router.get("/fragments/apercu", response_class=HTMLResponse)
async def overview_fragment(
    request: Request, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    grant = await require(dashboard, session, Permission.VIEW_OVERVIEW)
    return dashboard.render(
        request, "_overview.html", overview_context(dashboard, grant), session=session
    )


@router.get("/api/etat")
async def status(session: DataSession, dashboard: CurrentDashboard) -> JSONResponse:
    context = overview_context(
        dashboard, await require(dashboard, session, Permission.VIEW_OVERVIEW)
    )
    read_at = dashboard.model.states_read_at
    return JSONResponse(
        {
            "version": dashboard.model.version,
            "ready": dashboard.model.ready,
            "now": dashboard.clock().isoformat(),
            "now_text": french.format_datetime(dashboard.clock()),
            "updated_at": read_at.isoformat() if read_at else None,
            "updated_text": f"Données des dossiers lues à {french.format_time(read_at)}."
            if read_at
            else "Données des dossiers en cours de lecture…",
            "counts": {
                "overdue": len(context["overdue"]),
                "holds": len(context["holds"]),
                "orphans": len(context["orphans"]),
                "dead_letters": len(context["dead_letters"]),
            },
        }
    )


@router.get("/api/apercu")
async def overview_json(session: DataSession, dashboard: CurrentDashboard) -> JSONResponse:
    context = overview_context(
        dashboard, await require(dashboard, session, Permission.VIEW_OVERVIEW)
    )
    await require(dashboard, session, Permission.VIEW_AGENCIES)
    return JSONResponse(
        {
            "now": dashboard.clock().isoformat(),
            "overdue": views.as_json(context["overdue"]),
            "holds": views.as_json(context["holds"]),
            "orphans": views.as_json(context["orphans"]),
            "dead_letters": views.as_json(context["dead_letters"]),
            "agencies": views.as_json(agencies_context(dashboard)["agencies"]),
        }
    )
