"""One case (``/dossiers/{case_id}``): its audit timeline as operators may see it, its overdue
answers and consent holds. Every view is recorded in the operator actions log first."""

from __future__ import annotations

import sqlite3
import uuid

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from agents.io.audit_fetch import AuditLogUnavailable
from connectors.dashboard import views
from connectors.dashboard.actions import ActionKind, ActionNotRecorded, OperatorAction
from connectors.dashboard.case_view import replay_case
from connectors.dashboard.context import CurrentDashboard, PageSession, client_address

log = structlog.get_logger(__name__)
router = APIRouter()


@router.get("/dossiers/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, case_id: str, session: PageSession, dashboard: CurrentDashboard
) -> Response:
    try:
        case = uuid.UUID(case_id)
    except ValueError:
        raise HTTPException(404, "dossier inconnu") from None
    try:
        await dashboard.actions.record(
            OperatorAction(
                action=ActionKind.CASE_VIEWED,
                operator=session.operator_id,
                case_id=case,
                client=client_address(request),
            )
        )
    except ActionNotRecorded:
        raise HTTPException(503, "journal des actions indisponible") from None
    try:
        replay = await replay_case(
            dashboard.settings,
            dashboard.model.index_path,
            dashboard.codec,
            dashboard.key_store,
            dashboard.visibility,
            dashboard.model.directory,
            case,
        )
    except (AuditLogUnavailable, OSError, sqlite3.Error) as exc:
        log.warning("dashboard.case_unavailable", case_id=str(case), error=repr(exc))
        raise HTTPException(503, "Le journal d'audit est indisponible pour le moment.") from None
    state = next((s for s in dashboard.model.states if s.case_id == case), None)
    now = dashboard.clock()
    directory = dashboard.model.directory
    context = {
        "replay": replay,
        "case_short": views.short(case),
        "overdue": views.overdue_rows([state] if state else [], now, directory),
        "holds": views.hold_rows([state] if state else [], now, directory),
    }
    return dashboard.render(request, "case.html", context, session=session)
