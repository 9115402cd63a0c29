"""A data-protection officer approves or rejects an erasure request from the dashboard
(``POST /effacements/{request}/approbation`` and ``/rejet``), as ``hub erase approve`` and
``hub erase reject`` do from a shell.

The same rules, checked here first so a mistake is one clear answer, then by the worker, which
decides (``hub/flow/erasure.py``): the role (``APPROVE_ERASURE``: a data-protection officer
only), four eyes (never the operator who asked), the request still pending, holds the DPO
declares known to ``legal_holds.yaml``. The decision is recorded in the operator actions log
first (fail-closed), then written to ``nrm.erasure`` signed with the operator-action key
(``agents.erasure_publisher``): the dashboard never holds the hub's key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from agents.erasure_publisher import publish_erasure_command
from connectors.dashboard.access import require
from connectors.dashboard.actions import ActionKind, ActionNotRecorded, OperatorAction
from connectors.dashboard.context import (
    CurrentDashboard,
    Dashboard,
    DataSession,
    client_address,
    read_form,
    wants_json,
)
from connectors.dashboard.sessions import Session, csrf_matches
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureRejected,
)
from hub.flow.case_state import CaseState, PendingErasure
from hub.rules.holds import HoldPolicy
from hub.rules.roles import Allowed, Permission, four_eyes

log = structlog.get_logger(__name__)
router = APIRouter()
HOLD_FIELD = "obligation_"
"""A declared hold is a checkbox ``obligation_<HOLD_ID>`` (one field per hold)."""
MAX_REASON = 500


def _pending(dashboard: Dashboard, request_id: str) -> tuple[CaseState, PendingErasure]:
    try:
        wanted = uuid.UUID(request_id)
    except ValueError:
        raise HTTPException(404, "demande d'effacement inconnue") from None
    for state in dashboard.model.states:
        for waiting in state.erasure_requests:
            if waiting.request_id == wanted:
                return state, waiting
    raise HTTPException(404, "aucune demande d'effacement en attente sous cet identifiant")


async def _checked(
    request: Request, request_id: str, session: Session, dashboard: Dashboard, *, approving: bool
) -> tuple[dict[str, str], CaseState, PendingErasure]:
    """The form, and the pending request the officer may decide on; 403, 404 otherwise.
    ``approving``: four eyes too (a rejection, as ``hub erase reject``, needs the role only)."""
    form = await read_form(request)
    if not csrf_matches(session, form.get("csrf")):
        raise HTTPException(403, "jeton CSRF invalide")
    grant = await require(dashboard, session, Permission.APPROVE_ERASURE)
    state, waiting = _pending(dashboard, request_id)
    allowed = four_eyes(waiting.requested_by, grant) if approving else Allowed()
    if not isinstance(allowed, Allowed):
        await dashboard.actions.try_record(
            OperatorAction(
                action=ActionKind.ACCESS_REFUSED,
                operator=session.operator_id,
                case_id=state.case_id,
                detail=f"{Permission.APPROVE_ERASURE.value}: {allowed.reason}",
            )
        )
        raise HTTPException(403, f"Approbation refusée : {allowed.reason}.")
    return form, state, waiting


async def _send(
    request: Request,
    dashboard: Dashboard,
    action: OperatorAction,
    event: BaseModel,
    case_id: uuid.UUID,
    done: str,
) -> Response:
    """Record ``action`` (fail-closed), then write ``event``; say what happened."""
    try:
        await dashboard.actions.record(action)
    except ActionNotRecorded:
        raise HTTPException(503, "journal des actions indisponible") from None
    try:
        await publish_erasure_command(dashboard.settings, event, case_id)
    except Exception as exc:  # the command's own failure is shown, never a 500 page
        log.exception("dashboard.erasure_command_failed", case_id=str(case_id))
        await dashboard.actions.try_record(
            action.model_copy(
                update={
                    "action_id": uuid.uuid4(),
                    "action": ActionKind.ERASURE_FAILED,
                    "detail": f"{type(exc).__name__}: {exc}"[:2000],
                }
            )
        )
        if wants_json(request):
            return JSONResponse({"ok": False, "message": "L'envoi a échoué."}, status_code=502)
        return RedirectResponse("/effacements?decision=erreur", status_code=303)
    if wants_json(request):
        return JSONResponse({"ok": True, "message": done})
    return RedirectResponse("/effacements?decision=envoyee", status_code=303)


def _envelope(case_id: uuid.UUID) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), case_id=case_id, occurred_at=datetime.now(UTC))


@router.post("/effacements/{request_id}/approbation")
async def approve_erasure(
    request: Request, request_id: str, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    form, state, waiting = await _checked(request, request_id, session, dashboard, approving=True)
    policy = HoldPolicy.load(dashboard.settings.config_dir)
    declared = tuple(
        name.removeprefix(HOLD_FIELD)
        for name, value in form.items()
        if name.startswith(HOLD_FIELD) and value
    )
    unknown = [h for h in declared if not policy.known(h)]
    if unknown:
        raise HTTPException(400, f"obligation légale inconnue : {', '.join(unknown)}")
    event = ErasureApproved(
        envelope=_envelope(state.case_id),
        request_id=waiting.request_id,
        approved_by=session.operator_id,
        declared_holds=declared,
    )
    action = OperatorAction(
        action=ActionKind.ERASURE_APPROVED,
        operator=session.operator_id,
        case_id=state.case_id,
        client=client_address(request),
        detail=f"request {waiting.request_id} of {waiting.requested_by}; holds: "
        + (", ".join(declared) or "none"),
    )
    return await _send(
        request, dashboard, action, event, state.case_id, "Approbation envoyée au hub."
    )


@router.post("/effacements/{request_id}/rejet")
async def reject_erasure(
    request: Request, request_id: str, session: DataSession, dashboard: CurrentDashboard
) -> Response:
    form, state, waiting = await _checked(request, request_id, session, dashboard, approving=False)
    reason = form.get("motif", "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise HTTPException(400, f"le motif est obligatoire ({MAX_REASON} caractères au plus)")
    event = ErasureRejected(
        envelope=_envelope(state.case_id),
        request_id=waiting.request_id,
        rejected_by=session.operator_id,
        reason=reason,
    )
    action = OperatorAction(
        action=ActionKind.ERASURE_REJECTED,
        operator=session.operator_id,
        case_id=state.case_id,
        client=client_address(request),
        detail=f"request {waiting.request_id} of {waiting.requested_by}",
    )
    return await _send(request, dashboard, action, event, state.case_id, "Rejet envoyé au hub.")
