"""What every dashboard page uses: the dashboard's state, the operator's session, rendering.

``create_dashboard_app`` builds one ``Dashboard`` and keeps it in ``app.state``; routes receive
it, and the operator's session, as FastAPI dependencies. A page without a session redirects to
``/connexion``; a fragment, JSON or action answers 401 (``NotLoggedIn``, handled in app.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry

from connectors.dashboard import french
from connectors.dashboard.actions import ActionLog
from connectors.dashboard.config import DashboardSettings
from connectors.dashboard.operators import LoginThrottle, OperatorStore
from connectors.dashboard.read_model import ReadModel
from connectors.dashboard.sessions import COOKIE_NAME, Session, SessionSigner
from hub.audit.keys import KeyStore
from hub.audit.replay import AuditVisibility
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.roles import PERMISSIONS
from hub.runtime.settings import HubSettings

MAX_FORM_BYTES: Final = 4096
Redrive = Callable[[HubSettings, uuid.UUID], Awaitable[object]]


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
    schemas: SchemaRegistry
    visibility: AuditVisibility
    redrive: Redrive
    clock: Callable[[], datetime]
    metrics_registry: CollectorRegistry
    templates: Jinja2Templates

    def session(self, request: Request) -> Session | None:
        """The request's operator session, if its cookie is valid."""
        return self.signer.read(request.cookies.get(COOKIE_NAME))

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        session: Session | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Template ``name`` with ``context`` over what every page shows (operator, CSRF
        token, freshness of the read model, the hub's time)."""
        operator = self.operators.get(session.operator_id) if session else None
        grant = operator.grant() if operator is not None else None
        freshness = (
            french.format_time(self.model.states_read_at) if self.model.states_read_at else None
        )
        base = {
            "session": session,
            "operator": operator,
            "csrf": session.csrf_token if session else "",
            "freshness": freshness,
            "model_ready": self.model.ready,
            "model_error": self.model.last_error,
            "now_text": french.format_datetime(self.clock()),
            # What the navigation offers: only the pages the operator's role opens.
            "permissions": {p.value for p in PERMISSIONS[grant.role]} if grant else set(),
            "role_text": french.operator_role(grant.role.value, grant.region) if grant else None,
        }
        return self.templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status_code
        )


def dashboard_of(request: Request) -> Dashboard:
    """The dashboard serving ``request`` (kept in ``app.state``)."""
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def _page_session(request: Request) -> Session:
    session = dashboard_of(request).session(request)
    if session is None:
        raise NotLoggedIn(page=True)
    return session


def _data_session(request: Request) -> Session:
    session = dashboard_of(request).session(request)
    if session is None:
        raise NotLoggedIn(page=False)
    return session


CurrentDashboard = Annotated[Dashboard, Depends(dashboard_of)]
PageSession = Annotated[Session, Depends(_page_session)]
"""The operator's session on a page (none: redirect to the login form)."""
DataSession = Annotated[Session, Depends(_data_session)]
"""The operator's session on a fragment, JSON or action (none: 401)."""


def client_address(request: Request) -> str | None:
    """The peer's address, recorded with operator actions (None when unknown)."""
    return request.client.host if request.client else None


def wants_json(request: Request) -> bool:
    """True when the caller asked for JSON (the page's script) rather than HTML."""
    return "application/json" in request.headers.get("accept", "")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (bounded), first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "formulaire trop volumineux")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "formulaire illisible") from None
    return {name: values[0] for name, values in fields.items()}
