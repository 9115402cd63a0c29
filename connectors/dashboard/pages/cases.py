"""One case (``/dossiers/{case_id}``): its audit timeline as operators may see it, its overdue
answers and consent holds. Every view is recorded in the operator actions log first."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from agents.io.audit_fetch import AuditLogUnavailable
from connectors.dashboard import french, views
from connectors.dashboard.access import require
from connectors.dashboard.actions import ActionKind, ActionNotRecorded, OperatorAction
from connectors.dashboard.case_view import replay_case
from connectors.dashboard.context import CurrentDashboard, PageSession, client_address
from hub.flow.case_state import CaseState
from hub.rules.roles import Permission

log = structlog.get_logger(__name__)
router = APIRouter()


def erasure_status(state: CaseState | None) -> dict[str, Any]:
    """What the case page says of erasure: erased, restricted (and why), requests pending."""
    if state is None:
        return {"erased_text": None, "restricted": None, "pending_erasures": []}
    restricted = state.restricted
    return {
        "erased_text": french.format_datetime(state.erased_at) if state.erased_at else None,
        "restricted": {
            "holds": list(restricted.holds),
            "since_text": french.format_datetime(restricted.since),
        }
        if restricted is not None
        else None,
        "pending_erasures": [
            {"request_id": str(p.request_id), "requested_by": p.requested_by}
            for p in state.erasure_requests
        ],
    }


@router.get("/dossiers/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, case_id: str, session: PageSession, dashboard: CurrentDashboard
) -> Response:
    try:
        case = uuid.UUID(case_id)
    except ValueError:
        raise HTTPException(404, "dossier inconnu") from None
    await require(dashboard, session, Permission.VIEW_CASE, case_id=case)
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
        **erasure_status(state),
    }
    return dashboard.render(request, "case.html", context, session=session)
