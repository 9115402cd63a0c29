"""The agencies page (``/agences``): per agency, open requests, overdue answers, answer times."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from connectors.dashboard import views
from connectors.dashboard.access import require
from connectors.dashboard.context import CurrentDashboard, Dashboard, DataSession, PageSession
from hub.rules.roles import Permission

router = APIRouter()


def agencies_context(dashboard: Dashboard) -> dict[str, Any]:
    """The rows of the agencies table, as of the read model's last refresh."""
    model = dashboard.model
    return {
        "agencies": views.agency_rows(
            model.directory, model.states, model.ack_times, dashboard.clock()
        )
    }


@router.get("/agences", response_class=HTMLResponse)
async def agencies(request: Request, session: PageSession, dashboard: CurrentDashboard) -> Response:
    await require(dashboard, session, Permission.VIEW_AGENCIES)
    context = {**agencies_context(dashboard), "fragment": "/fragments/agences"}
    return dashboard.render(request, "agencies.html", context, session=session)


@router.get("/fragments/agences", response_class=HTMLResponse)
async def agencies_fragment(
    request: Request, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    await require(dashboard, session, Permission.VIEW_AGENCIES)
    return dashboard.render(request, "_agencies.html", agencies_context(dashboard), session=session)
