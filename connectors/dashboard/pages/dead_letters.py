"""Re-driving a dead letter (``POST /lettres-mortes/{id}/relance``), from the overview's table.

The request is recorded in the operator actions log before anything is re-driven; a re-drive
that fails is shown (and recorded), never a 500 page. The page's script asks for JSON; a plain
form post is redirected to the overview with a notice.
"""

from __future__ import annotations

import uuid

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from agents.redrive import RedriveError
from connectors.dashboard.access import require
from connectors.dashboard.actions import ActionKind, ActionNotRecorded, OperatorAction
from connectors.dashboard.context import (
    CurrentDashboard,
    DataSession,
    client_address,
    read_form,
    wants_json,
)
from connectors.dashboard.sessions import csrf_matches
from hub.rules.roles import Permission

_NO_CASE = uuid.UUID(int=0)
log = structlog.get_logger(__name__)
router = APIRouter()


@router.post("/lettres-mortes/{dead_letter_id}/relance")
async def redrive_dead_letter(
    request: Request, dead_letter_id: str, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    form = await read_form(request)
    as_json = wants_json(request)
    if not csrf_matches(session, form.get("csrf")):
        raise HTTPException(403, "jeton CSRF invalide")
    await require(dashboard, session, Permission.REDRIVE)
    try:
        letter_id = uuid.UUID(dead_letter_id)
    except ValueError:
        raise HTTPException(404, "lettre morte inconnue") from None
    item = dashboard.model.dead_letters.get(letter_id)
    if item is None:
        raise HTTPException(404, "lettre morte inconnue")
    # A dead letter of no known case is outside every région: national coordination's.
    await require(dashboard, session, Permission.REDRIVE, case_id=item.case_id or _NO_CASE)
    action = OperatorAction(
        action=ActionKind.REDRIVE_REQUESTED,
        operator=session.operator_id,
        case_id=item.case_id,
        dead_letter_id=letter_id,
        client=client_address(request),
    )
    try:
        await dashboard.actions.record(action)
    except ActionNotRecorded:
        raise HTTPException(503, "journal des actions indisponible") from None
    try:
        result = await dashboard.redrive(dashboard.settings, letter_id)
    except RedriveError as exc:
        # Unknown or already re-driven: nothing was written; say why, hide nothing.
        message = f"Relance impossible : {exc}"
        if as_json:
            return JSONResponse({"ok": False, "message": message}, status_code=409)
        return RedirectResponse("/?relance=impossible#lettres-mortes", status_code=303)
    except Exception as exc:  # the re-drive's own failure is shown, never a 500 page
        log.exception("dashboard.redrive_failed", dead_letter_id=str(letter_id))
        await dashboard.actions.try_record(
            action.model_copy(
                update={
                    "action_id": uuid.uuid4(),
                    "action": ActionKind.REDRIVE_FAILED,
                    "detail": f"{type(exc).__name__}: {exc}"[:2000],
                }
            )
        )
        if as_json:
            return JSONResponse({"ok": False, "message": "La relance a échoué."}, status_code=502)
        return RedirectResponse("/?relance=erreur#lettres-mortes", status_code=303)
    dashboard.model.mark_redrive_requested(letter_id)
    log.info("dashboard.redriven", dead_letter_id=str(letter_id), result=repr(result))
    if as_json:
        return JSONResponse(
            {"ok": True, "dead_letter_id": str(letter_id), "message": "Lettre morte relancée."}
        )
    return RedirectResponse("/?relance=ok#lettres-mortes", status_code=303)
