"""Login and logout: ``/connexion`` (form, then a signed session cookie) and ``/deconnexion``.

Failed logins slow down the (operator id, client address) pair with growing, bounded delays
(``LoginThrottle``; 429 with ``Retry-After`` while it waits, no password checked), never a lock
that a stranger could set off. Every attempt is recorded in the operator actions log, an
unknown operator id only as a keyed hash; a login that cannot be recorded is refused.
"""

from __future__ import annotations

import math

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


def french_seconds(seconds: int) -> str:
    """« 1 seconde », « 90 secondes », « 5 minutes » for the login page."""
    if seconds < 120:
        return f"{seconds} seconde{'s' if seconds > 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


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

    def refused(message: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
        context = {"next": target, "error": message, "operator_id": operator_id}
        response = dashboard.render(request, "login.html", context, status_code=status)
        response.headers.update(headers or {})
        return response

    wait = dashboard.throttle.wait(operator_id, client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        return refused(
            f"Trop de tentatives. Réessayez dans {french_seconds(seconds)}.",
            429,
            {"Retry-After": str(seconds)},
        )
    entry = await anyio.to_thread.run_sync(dashboard.operators.authenticate, operator_id, password)
    if entry is None:
        dashboard.throttle.failed(operator_id, client)
        await dashboard.actions.try_record(
            OperatorAction(
                action=ActionKind.LOGIN_REFUSED,
                operator=dashboard.operators.recordable(operator_id),
                client=client,
            )
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
    dashboard.throttle.succeeded(operator_id, client)
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
