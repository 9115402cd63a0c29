"""The operators' dashboard: server-rendered pages (Jinja2), plain JavaScript on top, no build.

Routes are thin: authenticate the operator (signed session cookie), read the read model, render.
Pages (French paths, for people) redirect to ``/connexion`` without a session; fragments and
JSON (``/fragments/...``, ``/api/...``) answer 401. ``/healthz``, ``/readyz`` and ``/metrics``
need no session and carry no case data. Agency gateway tokens are not a credential here.

``hub dashboard --host 127.0.0.1 --port 8000`` (or ``python -m connectors.dashboard.app``)
serves it; see docs/DASHBOARD.md.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote

import anyio
import structlog
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.io.audit_fetch import AuditLogUnavailable
from agents.redrive import RedriveError, redrive
from connectors.dashboard import french, views
from connectors.dashboard.actions import ActionKind, ActionLog, ActionNotRecorded, OperatorAction
from connectors.dashboard.case_view import operator_categories, replay_case
from connectors.dashboard.config import DashboardSettings
from connectors.dashboard.metrics import DashboardCollector
from connectors.dashboard.operators import OPERATORS_FILE, LoginThrottle, OperatorStore
from connectors.dashboard.read_model import ReadModel
from connectors.dashboard.sessions import COOKIE_NAME, Session, SessionSigner, csrf_matches
from connectors.http_metrics import HttpMetrics, HttpMetricsMiddleware, metrics_response
from hub.audit.keys import KeyStore, default_key_store
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.runtime.broker import LOOPBACK
from hub.runtime.clock import clock_from
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

log = structlog.get_logger(__name__)

HERE: Final = Path(__file__).resolve().parent
MAX_FORM_BYTES: Final = 4096
DATA_PREFIXES: Final = ("/api/", "/fragments/", "/lettres-mortes/")
Redrive = Callable[[HubSettings, uuid.UUID], Awaitable[object]]
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


class NotLoggedIn(Exception):
    """No valid session: pages redirect to the login form, data routes answer 401."""

    def __init__(self, page: bool) -> None:
        super().__init__("no operator session")
        self.page = page


@dataclass
class Dashboard:
    """What the routes use."""

    settings: HubSettings
    config: DashboardSettings
    operators: OperatorStore
    signer: SessionSigner
    throttle: LoginThrottle
    model: ReadModel
    actions: ActionLog
    key_store: KeyStore
    codec: Codec
    redrive: Redrive
    clock: Callable[[], datetime]
    registry: CollectorRegistry

    def session(self, request: Request) -> Session | None:
        """The request's operator session, if its cookie is valid."""
        return self.signer.read(request.cookies.get(COOKIE_NAME))


def _dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def _page_session(request: Request) -> Session:
    session = _dashboard(request).session(request)
    if session is None:
        raise NotLoggedIn(page=True)
    return session


def _data_session(request: Request) -> Session:
    session = _dashboard(request).session(request)
    if session is None:
        raise NotLoggedIn(page=False)
    return session


PageSession = Annotated[Session, Depends(_page_session)]
DataSession = Annotated[Session, Depends(_data_session)]


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
    registry = SchemaRegistry.load(settings.schemas_dir)
    codec = Codec(registry, max_record_bytes=settings.max_record_bytes)
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
    dashboard = Dashboard(
        settings=settings,
        config=config,
        operators=operators
        or OperatorStore.load(config.operators_file or settings.config_dir / OPERATORS_FILE),
        signer=SessionSigner(
            secret or secrets.token_bytes(32), lifetime_s=config.session_hours * 3600
        ),
        throttle=LoginThrottle(limit=config.login_attempts),
        model=model,
        actions=actions,
        key_store=key_store or default_key_store(settings.data_dir),
        codec=codec,
        redrive=redrive_with or redrive,
        clock=clock,
        registry=metrics_registry,
    )
    visibility = operator_categories(settings.config_dir)
    metrics_registry.register(DashboardCollector(model, actions, clock))
    http_metrics = HttpMetrics(metrics_registry, "nrm_dashboard")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        model.start()
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
    app.add_middleware(HttpMetricsMiddleware, metrics=http_metrics)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["app_name"] = "NRM Hub"

    def render(
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        session: Session | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        operator = dashboard.operators.get(session.operator_id) if session else None
        freshness = (
            french.format_time(dashboard.model.states_read_at)
            if dashboard.model.states_read_at
            else None
        )
        base = {
            "session": session,
            "operator": operator,
            "csrf": session.csrf_token if session else "",
            "freshness": freshness,
            "model_ready": dashboard.model.ready,
            "model_error": dashboard.model.last_error,
            "now_text": french.format_datetime(dashboard.clock()),
        }
        return templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status_code
        )

    def overview_context() -> dict[str, Any]:
        now = dashboard.clock()
        directory = dashboard.model.directory
        states = dashboard.model.states
        return {
            "overdue": views.overdue_rows(states, now, directory),
            "holds": views.hold_rows(states, now, directory),
            "orphans": views.orphan_rows(dashboard.model.open_orphans()),
            "dead_letters": views.dead_letter_rows(dashboard.model.pending_dead_letters()),
            "redriven": len(dashboard.model.redriven | dashboard.model.redrive_requested),
            "dropped": dashboard.model.dead_letters_dropped,
        }

    def agencies_context() -> dict[str, Any]:
        model = dashboard.model
        return {
            "agencies": views.agency_rows(
                model.directory, model.states, model.ack_times, dashboard.clock()
            )
        }

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        wants_json = "application/json" in request.headers.get("accept", "")
        if wants_json or request.url.path.startswith(DATA_PREFIXES):
            return JSONResponse({"error": exc.status_code, "detail": detail}, exc.status_code)
        title = {
            404: "Page introuvable",
            403: "Action refusée",
            503: "Service momentanément indisponible",
        }.get(exc.status_code, "Erreur")
        context = {"title": title, "message": detail}
        session = dashboard.session(request)
        return render(request, "error.html", context, session=session, status_code=exc.status_code)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if exc.page:
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/connexion?suivant={target}", status_code=303)
        return JSONResponse(
            {"error": "NOT_LOGGED_IN", "detail": "connexion opérateur requise"},
            status_code=401,
            headers={"WWW-Authenticate": 'Cookie realm="nrm-dashboard"'},
        )

    # -------------------------------------------------------------- login

    @app.get("/connexion", response_class=HTMLResponse)
    async def login_form(request: Request, suivant: str = "/") -> Response:
        if dashboard.session(request) is not None:
            return RedirectResponse(_safe_next(suivant), status_code=303)
        return render(request, "login.html", {"next": _safe_next(suivant), "error": None})

    @app.post("/connexion", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await _form(request)
        operator_id = form.get("operateur", "").strip().lower()[:100]
        password = form.get("mot_de_passe", "")
        target = _safe_next(form.get("suivant", "/"))
        client = request.client.host if request.client else "?"
        keys = (f"op:{operator_id}", f"ip:{client}")

        def refused(message: str, status: int) -> HTMLResponse:
            context = {"next": target, "error": message, "operator_id": operator_id}
            return render(request, "login.html", context, status_code=status)

        if dashboard.throttle.blocked(*keys):
            return refused("Trop de tentatives. Réessayez dans quelques minutes.", 429)
        entry = await anyio.to_thread.run_sync(
            dashboard.operators.authenticate, operator_id, password
        )
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
            secure=config.secure_cookie or request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/deconnexion")
    async def logout(request: Request, session: PageSession) -> Response:
        form = await _form(request)
        if not csrf_matches(session, form.get("csrf")):
            raise HTTPException(403, "jeton CSRF invalide")
        dashboard.signer.revoke(session)
        client = request.client.host if request.client else None
        await dashboard.actions.try_record(
            OperatorAction(action=ActionKind.LOGOUT, operator=session.operator_id, client=client)
        )
        response = RedirectResponse("/connexion", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    # -------------------------------------------------------------- pages

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request, session: PageSession) -> Response:
        notice = {
            "ok": "Lettre morte relancée.",
            "erreur": "La relance a échoué.",
            "impossible": "Relance impossible : lettre morte inconnue ou déjà relancée.",
        }.get(request.query_params.get("relance", ""))
        context = {**overview_context(), "notice": notice, "fragment": "/fragments/apercu"}
        return render(request, "overview.html", context, session=session)

    @app.get("/fragments/apercu", response_class=HTMLResponse)
    async def overview_fragment(request: Request, session: DataSession) -> Response:
        return render(request, "_overview.html", overview_context(), session=session)

    @app.get("/agences", response_class=HTMLResponse)
    async def agencies(request: Request, session: PageSession) -> Response:
        context = {**agencies_context(), "fragment": "/fragments/agences"}
        return render(request, "agencies.html", context, session=session)

    @app.get("/fragments/agences", response_class=HTMLResponse)
    async def agencies_fragment(request: Request, session: DataSession) -> Response:
        return render(request, "_agencies.html", agencies_context(), session=session)

    @app.get("/dossiers/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: str, session: PageSession) -> Response:
        try:
            case = uuid.UUID(case_id)
        except ValueError:
            raise HTTPException(404, "dossier inconnu") from None
        client = request.client.host if request.client else None
        try:
            await dashboard.actions.record(
                OperatorAction(
                    action=ActionKind.CASE_VIEWED,
                    operator=session.operator_id,
                    case_id=case,
                    client=client,
                )
            )
        except ActionNotRecorded:
            raise HTTPException(503, "journal des actions indisponible") from None
        try:
            replay = await replay_case(
                settings,
                dashboard.model.index_path,
                codec,
                dashboard.key_store,
                visibility,
                dashboard.model.directory,
                case,
            )
        except (AuditLogUnavailable, OSError, sqlite3.Error) as exc:
            log.warning("dashboard.case_unavailable", case_id=str(case), error=repr(exc))
            raise HTTPException(
                503, "Le journal d'audit est indisponible pour le moment."
            ) from None
        state = next((s for s in dashboard.model.states if s.case_id == case), None)
        now = dashboard.clock()
        directory = dashboard.model.directory
        context = {
            "replay": replay,
            "case_short": views.short(case),
            "overdue": views.overdue_rows([state] if state else [], now, directory),
            "holds": views.hold_rows([state] if state else [], now, directory),
        }
        return render(request, "case.html", context, session=session)

    # -------------------------------------------------------------- actions

    @app.post("/lettres-mortes/{dead_letter_id}/relance")
    async def redrive_dead_letter(
        request: Request, dead_letter_id: str, session: DataSession
    ) -> Response:
        form = await _form(request)
        wants_json = "application/json" in request.headers.get("accept", "")
        if not csrf_matches(session, form.get("csrf")):
            raise HTTPException(403, "jeton CSRF invalide")
        try:
            letter_id = uuid.UUID(dead_letter_id)
        except ValueError:
            raise HTTPException(404, "lettre morte inconnue") from None
        item = dashboard.model.dead_letters.get(letter_id)
        if item is None:
            raise HTTPException(404, "lettre morte inconnue")
        client = request.client.host if request.client else None
        action = OperatorAction(
            action=ActionKind.REDRIVE_REQUESTED,
            operator=session.operator_id,
            case_id=item.case_id,
            dead_letter_id=letter_id,
            client=client,
        )
        try:
            await dashboard.actions.record(action)
        except ActionNotRecorded:
            raise HTTPException(503, "journal des actions indisponible") from None
        try:
            result = await dashboard.redrive(settings, letter_id)
        except RedriveError as exc:
            # Unknown or already re-driven: nothing was written; say why, hide nothing.
            message = f"Relance impossible : {exc}"
            if wants_json:
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
            if wants_json:
                return JSONResponse(
                    {"ok": False, "message": "La relance a échoué."}, status_code=502
                )
            return RedirectResponse("/?relance=erreur#lettres-mortes", status_code=303)
        dashboard.model.mark_redrive_requested(letter_id)
        log.info("dashboard.redriven", dead_letter_id=str(letter_id), result=repr(result))
        if wants_json:
            return JSONResponse(
                {"ok": True, "dead_letter_id": str(letter_id), "message": "Lettre morte relancée."}
            )
        return RedirectResponse("/?relance=ok#lettres-mortes", status_code=303)

    # -------------------------------------------------------------- JSON

    @app.get("/api/etat")
    async def status(session: DataSession) -> JSONResponse:
        context = overview_context()
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

    @app.get("/api/apercu")
    async def overview_json(session: DataSession) -> JSONResponse:
        context = overview_context()
        return JSONResponse(
            {
                "now": dashboard.clock().isoformat(),
                "overdue": views.as_json(context["overdue"]),
                "holds": views.as_json(context["holds"]),
                "orphans": views.as_json(context["orphans"]),
                "dead_letters": views.as_json(context["dead_letters"]),
                "agencies": views.as_json(agencies_context()["agencies"]),
            }
        )

    # -------------------------------------------------------------- probes, metrics

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        broker = await dashboard.actions.broker_answers()
        checks = {
            "broker": broker,
            "topics_read": dashboard.model.caught_up,
            "case_states": dashboard.model.states_read_at is not None,
            "directory": dashboard.model.directory_ready,
            "registry": len(list(registry)) > 0,
            "operators": len(dashboard.operators) > 0,
        }
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response(metrics_registry)

    return app


def _safe_next(target: str) -> str:
    """A local path to go to after login; anything else (another site) becomes ``/``."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (bounded), first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "formulaire trop volumineux")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "formulaire illisible") from None
    return {name: values[0] for name, values in fields.items()}


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
    uvicorn.run(
        app,
        host=host,
        port=port,
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
