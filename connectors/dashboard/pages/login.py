"""Login and logout: ``/connexion`` (form, then a signed session cookie) and ``/deconnexion``.

Failed logins are throttled per operator id and per client address, and every attempt is
recorded in the operator actions log; a login that cannot be recorded is refused.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connectors.dashboard.actions import ActionKind, ActionNotRecorded, OperatorAction
from connectors.dashboard.context import (
    CurrentDashboard,
    PageSession,
    client_address,
    read_form,
)
from connectors.dashboard.sessions import COOKIE_NAME, csrf_matches

router = APIRouter()


def safe_next(target: str) -> str:
    """A local path to go to after login; anything else (another site) becomes ``/``."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/connexion", response_class=HTMLResponse)
async def login_form(request: Request, dashboard: CurrentDashboard, suivant: str = "/") -> Response:
    if dashboard.session(request) is not None:
        return RedirectResponse(safe_next(suivant), status_code=303)
    return dashboard.render(request, "login.html", {"next": safe_next(suivant), "error": None})


@router.post("/connexion", response_class=HTMLResponse)
async def login(request: Request, dashboard: CurrentDashboard) -> Response:
    form = await read_form(request)
    operator_id = form.get("operateur", "").strip().lower()[:100]
    password = form.get("mot_de_passe", "")
    target = safe_next(form.get("suivant", "/"))
    client = client_address(request) or "?"
    keys = (f"op:{operator_id}", f"ip:{client}")

    def refused(message: str, status: int) -> HTMLResponse:
        context = {"next": target, "error": message, "operator_id": operator_id}
        return dashboard.render(request, "login.html", context, status_code=status)

    if dashboard.throttle.blocked(*keys):
        return refused("Trop de tentatives. Réessayez dans quelques minutes.", 429)
    entry = await anyio.to_thread.run_sync(dashboard.operators.authenticate, operator_id, password)
    if entry is None:
        dashboard.throttle.failed(*keys)
        await dashboard.actions.try_record(
            OperatorAction(action=ActionKind.LOGIN_REFUSED, operator=operator_id, client=client)
        )
        return refused("Identifiant ou mot de passe incorrect.", 401)
    try:
        await dashboard.actions.record(
            OperatorAction(action=ActionKind.LOGIN, operator=entry.id, client=client)
        )
    except ActionNotRecorded:
        return refused(
            "Connexion impossible : le journal des actions est indisponible. "
            "Réessayez dans un instant.",
            503,
        )
    dashboard.throttle.succeeded(*keys)
    _session, cookie = dashboard.signer.issue(entry.id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(dashboard.signer.lifetime_s),
        httponly=True,
        samesite="strict",
        secure=dashboard.config.secure_cookie or request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/deconnexion")
async def logout(request: Request, session: PageSession, dashboard: CurrentDashboard) -> Response:
    form = await read_form(request)
    if not csrf_matches(session, form.get("csrf")):
        raise HTTPException(403, "jeton CSRF invalide")
    dashboard.signer.revoke(session)
    await dashboard.actions.try_record(
        OperatorAction(
            action=ActionKind.LOGOUT, operator=session.operator_id, client=client_address(request)
        )
    )
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response
