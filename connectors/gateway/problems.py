"""Errors of the HTTP gateway as ``application/problem+json`` (RFC 9457), with machine reasons.

Every refusal carries ``reason``: the same machine reason a dead letter would carry when the
payload is at fault (``SCHEMA_VIOLATION``, ``OVERSIZE``, ...), or a gateway reason for what only
HTTP has (``UNAUTHENTICATED``, ``RATE_LIMITED``, ``BROKER_UNAVAILABLE``, ...). The status of
each reason is fixed here, once; docs/GATEWAY.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.client_disconnects import log_client_disconnects
from hub.contracts.enums import DeadLetterReason

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:nrm-hub:problem:"


class GatewayReason(StrEnum):
    """Reasons only the gateway has (the others are ``DeadLetterReason`` values)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    TOPIC_UNAVAILABLE = "TOPIC_UNAVAILABLE"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_CURSOR = "INVALID_CURSOR"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"


Reason = DeadLetterReason | GatewayReason

STATUS: Mapping[Reason, int] = {
    GatewayReason.MALFORMED_REQUEST: 400,
    GatewayReason.INVALID_CURSOR: 400,
    DeadLetterReason.CORRUPT_FRAME: 400,
    GatewayReason.UNAUTHENTICATED: 401,
    GatewayReason.FORBIDDEN: 403,
    DeadLetterReason.SPOOFED_SENDER: 403,
    DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY: 403,
    GatewayReason.NOT_FOUND: 404,
    GatewayReason.METHOD_NOT_ALLOWED: 405,
    DeadLetterReason.OVERSIZE: 413,
    GatewayReason.UNSUPPORTED_MEDIA_TYPE: 415,
    DeadLetterReason.UNKNOWN_SCHEMA_ID: 422,
    DeadLetterReason.SCHEMA_VIOLATION: 422,
    DeadLetterReason.SEMANTIC_VIOLATION: 422,
    DeadLetterReason.UNKNOWN_INDICATOR: 422,
    DeadLetterReason.INDICATOR_FORM_MISMATCH: 422,
    GatewayReason.RATE_LIMITED: 429,
    DeadLetterReason.PROCESSING_ERROR: 500,
    GatewayReason.BROKER_UNAVAILABLE: 503,
    GatewayReason.TOPIC_UNAVAILABLE: 503,
}
"""HTTP status of each reason the gateway answers with."""

TITLES: Mapping[int, str] = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable event",
    429: "Too many requests",
    500: "Internal error",
    503: "Broker unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem document with the hub's machine reason."""

    type: str = Field(description="URI naming the reason: urn:nrm-hub:problem:<REASON>.")
    title: str
    status: int
    detail: str
    reason: str = Field(description="Machine reason: a dead letter reason or a gateway reason.")
    instance: str | None = None


class ProblemError(Exception):
    """Raised by the gateway's routes and checks; answered as a problem document."""

    def __init__(
        self, reason: Reason, detail: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        """The HTTP status of this reason."""
        return STATUS.get(self.reason, 400)


def problem_response(
    reason: Reason,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A ``application/problem+json`` response for ``reason``."""
    status = STATUS.get(reason, 400)
    body: dict[str, Any] = Problem(
        type=f"{PROBLEM_TYPE_PREFIX}{reason.value}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        reason=reason.value,
        instance=instance,
    ).model_dump(exclude_none=True)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem answers with these statuses."""
    return {
        status: {
            "description": TITLES.get(status, "Error")
            + " ("
            + ", ".join(sorted(r.value for r, s in STATUS.items() if s == status))
            + ")",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every refusal and every error of ``app`` as a problem document."""

    @app.exception_handler(ProblemError)
    async def refused(request: Request, exc: ProblemError) -> JSONResponse:
        log.info("gateway.refused", path=request.url.path, reason=exc.reason.value)
        return problem_response(
            exc.reason, exc.detail, instance=request.url.path, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()[:10]
        )
        return problem_response(
            GatewayReason.MALFORMED_REQUEST, detail or "invalid request", instance=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {
            404: GatewayReason.NOT_FOUND,
            405: GatewayReason.METHOD_NOT_ALLOWED,
        }.get(exc.status_code, GatewayReason.MALFORMED_REQUEST)
        return problem_response(reason, str(exc.detail), instance=request.url.path)

    log_client_disconnects(app, "gateway")

    @app.exception_handler(Exception)
    async def defect(request: Request, exc: Exception) -> JSONResponse:
        log.exception("gateway.defect", path=request.url.path, error=type(exc).__name__)
        return problem_response(
            DeadLetterReason.PROCESSING_ERROR,
            "the gateway failed to handle this request; it is logged",
            instance=request.url.path,
        )
