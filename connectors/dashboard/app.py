"""The operators' dashboard: server-rendered pages (Jinja2), plain JavaScript on top, no build.

Routes are thin: authenticate the operator (signed session cookie), read the read model, render.
They live in ``connectors/dashboard/pages/`` (one module per page); this module builds the
shared ``Dashboard`` (``context.py``), the middleware and the error pages.
Pages (French paths, for people) redirect to ``/connexion`` without a session; fragments and
JSON (``/fragments/...``, ``/api/...``) answer 401. ``/healthz``, ``/readyz`` and ``/metrics``
need no session and carry no case data. Agency gateway tokens are not a credential here.

``hub dashboard --host 127.0.0.1 --port 8000`` (or ``python -m connectors.dashboard.app``)
serves it; see docs/DASHBOARD.md.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final
from urllib.parse import quote

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.redrive import redrive
from connectors.body_limits import BodyLimit
from connectors.client_disconnects import log_client_disconnects
from connectors.dashboard.actions import ActionKind, ActionLog, OperatorAction
from connectors.dashboard.case_view import operator_categories
from connectors.dashboard.config import DashboardSettings
from connectors.dashboard.context import (
    MAX_FORM_BYTES,
    Dashboard,
    NotLoggedIn,
    Redrive,
    dashboard_of,
    wants_json,
)
from connectors.dashboard.metrics import DashboardCollector
from connectors.dashboard.operators import LoginThrottle, OperatorStore
from connectors.dashboard.pages import (
    agencies,
    cases,
    dead_letters,
    erasure_decisions,
    erasures,
    login,
    monitoring,
    overview,
    probes,
    triage,
)
from connectors.dashboard.read_model import ReadModel
from connectors.dashboard.sessions import SessionSigner
from connectors.dashboard.triage_queue import TriageDesk, TriageSettings
from connectors.http_metrics import HttpMetrics, HttpMetricsMiddleware
from hub.audit.key_stores import key_store_for
from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.rules.roles import OPERATORS_FILE
from hub.runtime.broker import LOOPBACK
from hub.runtime.clock import clock_from
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

log = structlog.get_logger(__name__)

HERE: Final = Path(__file__).resolve().parent
DATA_PREFIXES: Final = ("/api/", "/fragments/", "/lettres-mortes/")
SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
ERROR_TITLES: Final = {
    404: "Page introuvable",
    403: "Action refusée",
    413: "Requête trop volumineuse",
    503: "Service momentanément indisponible",
}


class SecurityHeaders:
    """Adds the security headers to every response, and no-store to everything but assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_dashboard_app(
    settings: HubSettings,
    config: DashboardSettings | None = None,
    *,
    operators: OperatorStore | None = None,
    redrive_with: Redrive | None = None,
    key_store: KeyStore | None = None,
) -> FastAPI:
    """The dashboard as an ASGI app; its read model starts and stops with the app."""
    config = config or DashboardSettings()
    schemas = SchemaRegistry.load(settings.schemas_dir)
    codec = Codec(schemas, max_record_bytes=settings.max_record_bytes)
    clock = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    secret = (
        config.session_secret.get_secret_value().encode()
        if config.session_secret is not None
        else None
    )
    if secret is None:
        log.warning("dashboard.ephemeral_session_secret")
    model = ReadModel(
        settings,
        codec,
        Directory.load(settings.config_dir),
        index_dir=config.index_dir or settings.data_dir / "dashboard",
        refresh_s=config.refresh_seconds,
        clock=clock,
    )
    actions = ActionLog(settings, timeout_s=config.action_timeout_seconds)
    metrics_registry = CollectorRegistry()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["app_name"] = "NRM Hub"
    dashboard = Dashboard(
        settings=settings,
        config=config,
        operators=operators
        or OperatorStore.load(config.operators_file or settings.config_dir / OPERATORS_FILE),
        signer=SessionSigner(
            secret or secrets.token_bytes(32), lifetime_s=config.session_hours * 3600
        ),
        throttle=LoginThrottle.from_config(config),
        model=model,
        actions=actions,
        key_store=key_store or key_store_for(settings),
        codec=codec,
        schemas=schemas,
        visibility=operator_categories(settings.config_dir),
        redrive=redrive_with or redrive,
        clock=clock,
        metrics_registry=metrics_registry,
        templates=templates,
    )
    metrics_registry.register(DashboardCollector(model, actions, clock))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        model.start()
        await record_roster(actions, dashboard.operators)
        try:
            yield
        finally:
            await model.stop()
            await actions.close()

    app = FastAPI(
        title="NRM Hub — tableau de bord des opérateurs",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.triage = TriageDesk.load(settings, codec, TriageSettings())
    # Every body is a small form: refused (413) while it arrives, before any route reads it.
    app.add_middleware(BodyLimit, limit=MAX_FORM_BYTES, refuse=_too_large)
    app.add_middleware(
        HttpMetricsMiddleware, metrics=HttpMetrics(metrics_registry, "nrm_dashboard")
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(StarletteHTTPException, _http_error)
    log_client_disconnects(app, "dashboard")
    app.add_exception_handler(NotLoggedIn, _not_logged_in)
    for page in (
        login,
        overview,
        agencies,
        cases,
        dead_letters,
        erasures,
        erasure_decisions,
        monitoring,
        probes,
        triage,
    ):
        # The routes themselves, not include_router: this FastAPI keeps an included router as
        # one lazy entry of app.routes, and every route must stay listed there (the security
        # test walks them all).
        app.router.routes.extend(page.router.routes)
    return app


async def record_roster(actions: ActionLog, operators: OperatorStore) -> None:
    """Record the roles this process grants, one ``ROLES_LOADED`` action per operator: roles
    are read from the operators file at start, so a role change shows in
    ``nrm.operator-actions`` as the first start that records the new role (best effort: the
    dashboard still starts when the broker is away; it is then recorded at the next start)."""
    for entry in operators:
        recorded = await actions.try_record(
            OperatorAction(
                action=ActionKind.ROLES_LOADED,
                operator=entry.id,
                detail=entry.grant().describe() + (" (désactivé)" if entry.disabled else ""),
            )
        )
        if not recorded:  # one bounded wait, not one per operator
            log.warning("dashboard.roles_not_recorded", operators=len(operators))
            return


async def _http_error(request: Request, exc: Exception) -> Response:
    """An HTTP error as JSON (data routes, or when asked) or as a French error page."""
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if wants_json(request) or request.url.path.startswith(DATA_PREFIXES):
        return JSONResponse({"error": exc.status_code, "detail": detail}, exc.status_code)
    dashboard = dashboard_of(request)
    context = {"title": ERROR_TITLES.get(exc.status_code, "Erreur"), "message": detail}
    session = dashboard.session(request)
    return dashboard.render(
        request, "error.html", context, session=session, status_code=exc.status_code
    )


async def _too_large(request: Request, _limit: int) -> Response:
    """A body over the limit, answered like the forms' own 413 (``read_form``)."""
    return await _http_error(request, StarletteHTTPException(413, "formulaire trop volumineux"))


async def _not_logged_in(request: Request, exc: Exception) -> Response:
    """No session: a page redirects to the login form (then back), anything else is a 401."""
    assert isinstance(exc, NotLoggedIn)
    if exc.page:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/connexion?suivant={target}", status_code=303)
    return JSONResponse(
        {"error": "NOT_LOGGED_IN", "detail": "connexion opérateur requise"},
        status_code=401,
        headers={"WWW-Authenticate": 'Cookie realm="nrm-dashboard"'},
    )


def serve(
    settings: HubSettings | None = None,
    config: DashboardSettings | None = None,
    *,
    host: str = LOOPBACK,
    port: int = 8000,
) -> None:
    """Serve the dashboard with uvicorn until interrupted (loopback unless told otherwise)."""
    settings = settings or get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    app = create_dashboard_app(settings, config)
    # No log_config: uvicorn's lines go through the hub's one logging configuration.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.upper() == "DEBUG",
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.dashboard.app [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="python -m connectors.dashboard.app")
    parser.add_argument("--host", default=LOOPBACK, help="default 127.0.0.1 (loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
