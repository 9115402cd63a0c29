"""The HTTP gateway: agencies that do not speak Kafka publish, read their inbox and acknowledge.

Routes are thin: authenticate (bearer token → agency), parse, call ``hub/`` (codec, rules,
signing), answer. The sending agency is always the authenticated one; a path naming another
agency is 403, whatever the endpoint. Every refusal is ``application/problem+json`` with a
machine reason (``connectors/gateway/problems.py``); broker trouble is 503, never 500.

``python -m connectors.gateway.app --port 8080`` serves it on 127.0.0.1 (see docs/GATEWAY.md).
"""

from __future__ import annotations

import argparse
import gc
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from connectors.body_limits import BodyLimit
from connectors.gateway.config import GatewaySettings
from connectors.gateway.inbox import Cursor
from connectors.gateway.limits import read_body, refuse_oversize
from connectors.gateway.metrics import GatewayMetrics
from connectors.gateway.models import (
    AVRO_MEDIA_TYPE,
    AckRequest,
    Health,
    InboxPage,
    IndicatorEntry,
    IndicatorList,
    PublishReceipt,
    PublishRequest,
)
from connectors.gateway.problems import (
    GatewayReason,
    Problem,
    ProblemError,
    install_problem_handlers,
    problem_responses,
)
from connectors.gateway.publishing import OutboxRecord, acknowledgement
from connectors.gateway.service import Gateway
from connectors.gateway.tokens import TOKENS_FILE, TokenStore
from connectors.http_metrics import HttpMetricsMiddleware, metrics_response
from hub.contracts.enums import DeadLetterReason
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Agency, Directory
from hub.rules.routing import RoutingRules
from hub.runtime.broker import LOOPBACK
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

API_VERSION = "1.0.0"
AGENCY_PATH = Annotated[
    str, Path(description="The authenticated agency's id: any other agency is refused (403).")
]
MAX_LIMIT = 1000
MAX_WAIT_S = 60.0
_bearer = HTTPBearer(auto_error=False, description="Per-agency API token: nrm.<token id>.<secret>")


async def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Agency:
    gateway: Gateway = request.app.state.gateway
    return await gateway.authenticate(request, credentials.credentials if credentials else None)


Caller = Annotated["Agency", Depends(_authenticated)]
"""The authenticated agency of a request (401 / 403 / 429 before the route runs)."""


def create_gateway_app(
    settings: HubSettings,
    gateway: GatewaySettings | None = None,
    *,
    tokens: TokenStore | None = None,
    directory: Directory | None = None,
    registry: SchemaRegistry | None = None,
) -> FastAPI:
    """The gateway as an ASGI app. It connects to the broker on first use, not at start."""
    gateway = gateway or GatewaySettings()
    hub = Gateway(
        settings,
        gateway,
        tokens=tokens or TokenStore.load(gateway.tokens_file or settings.config_dir / TOKENS_FILE),
        directory=directory or Directory.load(settings.config_dir),
        registry=registry or SchemaRegistry.load(settings.schemas_dir),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Schemas, models and routes live as long as the process: moved out of the collector's
        # reach, full collections stop scanning them (they caused ~45 ms pauses, a p99 of
        # 50 ms at 1,500 requests/s in bench/gateway.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.close()

    app = FastAPI(
        title="NRM Hub gateway",
        version=API_VERSION,
        description="Publish referral events, read your inbox and acknowledge requests over "
        "HTTP. Errors are application/problem+json with a machine `reason`. See "
        "docs/GATEWAY.md.",
        lifespan=lifespan,
    )
    app.state.gateway = hub
    metrics = app.state.metrics = GatewayMetrics()
    app.add_middleware(BodyLimit, limit=gateway.max_body_bytes, refuse=refuse_oversize)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.http)
    install_problem_handlers(app)

    async def publish(caller: Agency, record: OutboxRecord) -> PublishReceipt:
        try:
            return await hub.publish(caller, record)
        except ProblemError as exc:
            metrics.publish_failures.labels(exc.reason.value).inc()
            raise

    refusals = problem_responses(400, 401, 403, 413, 415, 422, 429, 503)

    @app.post(
        "/v1/agencies/{agency_id}/events",
        status_code=202,
        response_model=PublishReceipt,
        responses=refusals,
        summary="Publish an event to the agency's outbox",
        openapi_extra={"requestBody": _publish_body(hub.rules)},
    )
    async def publish_event(
        agency_id: AGENCY_PATH, request: Request, caller: Caller
    ) -> PublishReceipt:
        """Validate the event (model and Avro schema), sign it as the authenticated agency and
        write it to its outbox, keyed by case id. 202: written; routing follows."""
        body = await read_body(request, gateway.max_body_bytes)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == AVRO_MEDIA_TYPE:
            record = hub.intake.from_frame(body, caller)
        elif media == "application/json" or media.endswith("+json"):
            record = hub.intake.from_json(body, caller)
        else:
            raise ProblemError(
                GatewayReason.UNSUPPORTED_MEDIA_TYPE,
                f"send application/json or {AVRO_MEDIA_TYPE}, not {media or 'no content type'}",
            )
        return await publish(caller, record)

    @app.get(
        "/v1/agencies/{agency_id}/inbox",
        response_model=InboxPage,
        responses=problem_responses(400, 401, 403, 429, 503),
        summary="Read the agency's inbox after a cursor (long-poll)",
    )
    async def read_inbox(
        agency_id: AGENCY_PATH,
        caller: Caller,
        cursor: Annotated[
            str | None,
            Query(
                max_length=4096,
                description="From the previous page; none: from the start. Another agency's "
                "cursor, or one naming a partition the inbox lacks or an offset outside Kafka's "
                "0..2^63-1: 400 INVALID_CURSOR.",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        wait: Annotated[
            float,
            Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for a first message."),
        ] = 0.0,
    ) -> InboxPage:
        """Messages the hub delivered to the agency, each verified as signed by the hub. Send
        the returned cursor back to continue; the same event id may come twice after a retry
        (drop it by event id)."""
        position = Cursor.decode(cursor, caller.id) if cursor else None
        wait_s = min(wait, gateway.max_wait_seconds)
        if wait_s > 0:
            metrics.long_polls.inc()
        with metrics.long_polls_waiting.track_inprogress() if wait_s > 0 else nullcontext():
            items, following = await hub.inbox.read(
                caller.id, position, limit=min(limit, gateway.max_inbox_messages), wait_s=wait_s
            )
        return InboxPage(agency=caller.id, messages=items, cursor=following.encode())

    @app.post(
        "/v1/agencies/{agency_id}/acknowledgements",
        status_code=202,
        response_model=PublishReceipt,
        responses=refusals,
        summary="Answer a request: accepted, declined, needs information, completed",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AckRequest"}}
                },
            }
        },
    )
    async def acknowledge(
        agency_id: AGENCY_PATH, request: Request, caller: Caller
    ) -> PublishReceipt:
        """Publish an fr.nrm.Acknowledgement to the agency's outbox; the hub routes it to the
        agency that sent the request. This is the business answer, not a delivery receipt."""
        body = await read_body(request, gateway.max_body_bytes)
        try:
            answer = AckRequest.model_validate_json(body)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise ProblemError(GatewayReason.MALFORMED_REQUEST, "body is not JSON") from None
            raise ProblemError(
                DeadLetterReason.SCHEMA_VIOLATION,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:20]),
            ) from None
        record = hub.intake.from_event(acknowledgement(answer), caller)
        return await publish(caller, record)

    grid = hub.intake.indicators
    indicator_list = IndicatorList(
        version=grid.version,
        effective=grid.effective.isoformat(),
        indicators=[
            IndicatorEntry(
                code=i.code,
                label_fr=i.label_fr,
                label_en=i.label_en,
                forms=sorted(f.value for f in i.forms),
                source=grid.sources[i.source].title,
                link=grid.sources[i.source].link,
            )
            for i in grid.indicators
            if not i.withdrawn
        ],
    )

    @app.get(
        "/v1/indicators",
        response_model=IndicatorList,
        summary="The shared indicator grid: the only codes indicator_codes may carry",
    )
    async def indicators() -> IndicatorList:
        """Every usable code with its labels, forms and source (deploy/config/indicators.yaml,
        docs/INDICATORS.md); an event carrying any other code is refused with 422. Public,
        like the published lists it comes from: no token, nothing about any case."""
        return indicator_list

    @app.get("/healthz", response_model=Health, summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text; not for agencies (the reverse proxy does not forward it)."""
        return metrics_response(metrics.registry)

    @app.get(
        "/readyz",
        response_model=Health,
        responses=problem_responses(503),
        summary="The broker answers",
    )
    async def readyz() -> Health:
        await hub.link.metadata()
        return Health(status="ready", broker=settings.bootstrap_servers)

    publishable = sorted(rule.message_type for rule in hub.rules.rules)
    app.openapi = _openapi_with_models(  # type: ignore[method-assign]
        app, publishable, grid.usable_codes()
    )
    return app


def _publish_body(rules: RoutingRules) -> dict[str, Any]:
    publishable = sorted(r.message_type for r in rules.rules)
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/PublishRequest"},
                "example": {"subject": publishable[0], "event": {"envelope": {}}},
            },
            AVRO_MEDIA_TYPE: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "One Confluent-framed Avro record: 0x00, the schema id "
                    "(4 bytes, big-endian), the Avro binary. Subjects: " + ", ".join(publishable),
                }
            },
        },
    }


def _openapi_with_models(
    app: FastAPI, publishable: list[str], codes: tuple[str, ...]
) -> Callable[[], dict[str, Any]]:
    """FastAPI's generator, plus the request bodies the routes read themselves, minus
    FastAPI's default 422 answers (this gateway answers invalid parameters with a 400
    problem)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, top = models_json_schema(
                [
                    (PublishRequest, "validation"),
                    (AckRequest, "validation"),
                    (Problem, "validation"),
                ],
                ref_template="#/components/schemas/{model}",
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in top.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            schemas["PublishRequest"]["properties"]["subject"]["enum"] = publishable
            schemas["IndicatorCode"] = {
                "type": "string",
                "enum": list(codes),
                "description": "The codes of the shared indicator grid (GET /v1/indicators, "
                "docs/INDICATORS.md): the only values of every indicator_codes field; any "
                "other is refused with 422 UNKNOWN_INDICATOR.",
            }
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    answers = operation.get("responses", {})
                    default = answers.get("422", {}).get("content", {}).get("application/json")
                    if default is not None:
                        del answers["422"]
                        answers.setdefault("400", problem_responses(400)[400])
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def serve(
    settings: HubSettings | None = None,
    gateway: GatewaySettings | None = None,
    *,
    host: str = LOOPBACK,
    port: int = 8080,
    tls: TransportSecurity | None = None,
) -> None:
    """Serve the gateway with uvicorn until interrupted (loopback unless told otherwise).

    With ``tls``, HTTPS; with ``tls.client_ca`` too, mutual TLS: only clients holding a
    certificate signed by that CA may connect (the bearer token still says which agency).
    """
    settings = settings or get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    app = create_gateway_app(settings, gateway)
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": str(tls.certfile), "ssl_keyfile": str(tls.keyfile)}
        if tls.client_ca is not None:
            options |= {"ssl_ca_certs": str(tls.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    # Access lines at DEBUG only: every request is already logged as gateway.published or
    # gateway.refused, with the agency and the reason. No log_config: uvicorn's own lines go
    # through the hub's one configuration (JSON with --log-json or HUB_LOG_JSON=true).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.upper() == "DEBUG",
        proxy_headers=False,
        **options,
    )


@dataclass(frozen=True)
class TransportSecurity:
    """The gateway's TLS certificate and key, and the CA of client certificates (mTLS)."""

    certfile: FilePath
    keyfile: FilePath
    client_ca: FilePath | None = None


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.gateway.app [--host H] [--port P] [--tls-cert C --tls-key K
    [--client-ca CA]]``."""
    parser = argparse.ArgumentParser(prog="python -m connectors.gateway.app")
    parser.add_argument("--host", default=LOOPBACK, help="default 127.0.0.1 (loopback only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--tls-cert", type=FilePath, help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", type=FilePath, help="... and this private key")
    parser.add_argument("--client-ca", type=FilePath, help="require client certificates (mTLS)")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        tls = TransportSecurity(args.tls_cert, args.tls_key, args.client_ca)
    elif args.client_ca:
        parser.error("--client-ca needs --tls-cert and --tls-key")
    serve(host=args.host, port=args.port, tls=tls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
