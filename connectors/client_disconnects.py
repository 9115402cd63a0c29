"""A client that closes its connection mid-request is an ordinary event on every HTTP surface
(gateway, dashboard, registry API): one info line, no traceback.

Rendering a traceback costs ~0.7 s on the one event loop (issue 22, finding 1): a storm of
disconnects would freeze every other request. The answer goes nowhere; its status, 499
(nginx's "client closed request"), is what the metrics count.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

CLIENT_CLOSED_REQUEST = 499

log = structlog.get_logger(__name__)


def log_client_disconnects(app: FastAPI, surface: str) -> None:
    """Answer ``ClientDisconnect`` on ``app`` with one ``<surface>.client_disconnected`` info
    line (method and path, never the body) and a 499."""
    event = f"{surface}.client_disconnected"

    async def client_gone(request: Request, _exc: Exception) -> Response:
        log.info(event, method=request.method, path=request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    app.add_exception_handler(ClientDisconnect, client_gone)
