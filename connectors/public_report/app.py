"""The public reporting page: its own small FastAPI app, no login, French and English.

A separate app (not a route of the gateway): the gateway holds agency tokens and signs for
every agency; this page is open to anyone and holds one key that can only send the public's
reports (routing.yaml ``public_intake``). Nothing here stores or logs a client's address or
browser: limits are keyed by a rotating salted hash in memory (``guards.py``), uvicorn's access
log is off, and no log line names the client (tests/e2e/test_public_report_browser.py scans
logs, topics and files for them). docs/WITNESS_REPORTS.md.

``hub public-report --host 127.0.0.1 --port 8090`` or ``python -m connectors.public_report.app``.
"""

from __future__ import annotations

import argparse
import math
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.body_limits import BodyLimit
from connectors.public_report.config import PublicReportSettings
from connectors.public_report.form import Refused, addition_from, report_from
from connectors.public_report.guards import ClientBuckets, FormTokens, Rate
from connectors.public_report.intake import Intake
from connectors.public_report.texts import DEPARTEMENT_NAMES, FORMS, TEXTS, Lang, lang_of
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.rules.directory import Directory
from hub.runtime.broker import LOOPBACK
from hub.runtime.config_files import read_yaml
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings
from hub.trust.agency_keys import dev_key_path, load_private_key
from hub.trust.signing import RecordSigner

log = structlog.get_logger(__name__)

HERE: Final = Path(__file__).resolve().parent
COOKIE: Final = "nrm_formulaire"
SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Adds the strict headers to every answer (assets included: they are ours)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class Page:
    """What the routes share: the intake, the guards, the templates, the lists."""

    def __init__(self, config: PublicReportSettings, intake: Intake, secret: bytes) -> None:
        self.config = config
        self.intake = intake
        rotation = config.salt_rotation_minutes * 60.0
        self.submissions = ClientBuckets(
            Rate.per_hour(config.reports_per_hour, config.burst),
            rotation_s=rotation,
            max_clients=config.max_clients,
        )
        self.lookups = ClientBuckets(
            Rate.per_hour(config.lookups_per_hour, config.lookup_burst),
            rotation_s=rotation,
            max_clients=config.max_clients,
        )
        self.tokens = FormTokens(secret, lifetime_s=config.form_token_minutes * 60.0)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.departements: dict[str, str] = {}

    def client(self, request: Request) -> str:
        """The client's address, only ever hashed (``ClientBuckets``), never kept."""
        if self.config.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            if forwarded.strip():
                return forwarded.split(",")[-1].strip()
        return request.client.host if request.client is not None else "?"

    def render(
        self,
        request: Request,
        template: str,
        lang: Lang,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        """A page with a fresh form token in the form and in the cookie."""
        token = self.tokens.issue()
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "t": TEXTS[lang],
                "lang": lang,
                "other": "en" if lang == "fr" else "fr",
                "token": token,
                "departements": self.departements,
                "forms": {form.value: labels[lang] for form, labels in FORMS.items()},
                **context,
            },
            status_code=status_code,
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.tokens.lifetime_s),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def throttled(self, buckets: ClientBuckets, request: Request) -> Response | None:
        """429 in both languages when the client's bucket is empty, else None."""
        wait = buckets.take(self.client(request))
        if wait <= 0:
            return None
        log.info("public_report.throttled")
        return PlainTextResponse(
            f"{TEXTS['fr']['too_many']}\n{TEXTS['en']['too_many']}\n",
            status_code=429,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    async def guarded_form(
        self, buckets: ClientBuckets, request: Request, lang: Lang
    ) -> dict[str, str] | Response:
        """A POST's form once the client's bucket, the form token and the honeypot let it
        through (checked in that order, the bucket first: a flood costs no parsing); else the
        refusal to answer."""
        throttled = self.throttled(buckets, request)
        if throttled is not None:
            return throttled
        form = await read_form(request)
        forged = self.forged(request, form, lang)
        return form if forged is None else forged

    def forged(self, request: Request, form: Mapping[str, Any], lang: Lang) -> Response | None:
        """403 without a valid double-submit token; 400 when the honeypot is filled."""
        field = form.get("jeton")
        if not self.tokens.valid(
            field if isinstance(field, str) else None, request.cookies.get(COOKIE)
        ):
            log.info("public_report.refused", reason="FORM_TOKEN")
            return PlainTextResponse(TEXTS[lang]["refused"], status_code=403)
        if str(form.get("site_web") or "").strip():
            log.info("public_report.refused", reason="HONEYPOT")
            return PlainTextResponse(TEXTS[lang]["refused"], status_code=400)
        return None


class Unreadable(Exception):
    """A form body that is not urlencoded UTF-8 text of a few fields."""


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (``BodyLimit`` bounds it), first value of each field."""
    try:
        fields = parse_qs(
            (await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=40
        )
    except (UnicodeDecodeError, ValueError):
        raise Unreadable from None
    return {name: values[0] for name, values in fields.items()}


def create_public_report_app(
    settings: HubSettings, config: PublicReportSettings | None = None
) -> FastAPI:
    """The public page as an ASGI app; its producer starts and stops with it."""
    config = config or PublicReportSettings()
    if config.secret is None:
        log.warning("public_report.ephemeral_secret")
    secret = (
        config.secret.get_secret_value().encode()
        if config.secret is not None
        else secrets.token_bytes(32)
    )
    directory = Directory.load(settings.config_dir)
    agency = directory.get(config.agency_id)
    if agency is None:
        raise LookupError(f"{config.agency_id} is not in the directory")
    key_path = config.signing_key_path or dev_key_path(settings.config_dir, agency.id)
    intake = Intake(
        settings,
        agency.id,
        RecordSigner.for_agency(agency, load_private_key(key_path)),
        Codec(
            SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
        ),
        (settings.config_dir / "hub-public-key.txt").read_text().strip(),
        secret,
        publish_timeout_s=config.publish_timeout_seconds,
    )
    page = Page(config, intake, secret)
    known = {d for deps in read_yaml(settings.config_dir / "regions.yaml").values() for d in deps}
    page.departements = {code: name for code, name in DEPARTEMENT_NAMES.items() if code in known}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await intake.stop()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.page = page

    async def too_large(request: Request, _limit: int) -> Response:
        lang = lang_of(request.query_params.get("lang"))
        return PlainTextResponse(TEXTS[lang]["too_large"], status_code=413)

    app.add_middleware(BodyLimit, limit=config.max_body_bytes, refuse=too_large)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def unreadable(request: Request, _exc: Exception) -> Response:
        lang = lang_of(request.query_params.get("lang"))
        return PlainTextResponse(TEXTS[lang]["refused"], status_code=400)

    app.add_exception_handler(Unreadable, unreadable)

    @app.get("/")
    async def form_page(request: Request, lang: str | None = None) -> Response:
        return page.render(request, "report.html", lang_of(lang), values={}, errors=[])

    @app.post("/signaler")
    async def submit(request: Request, lang: str | None = None) -> Response:
        language = lang_of(lang)
        form = await page.guarded_form(page.submissions, request, language)
        if isinstance(form, Response):
            return form
        made = report_from(form, page.departements, config)
        if isinstance(made, Refused):
            errors = [TEXTS[language][e] for e in made.errors]
            values = {k: v for k, v in form.items() if isinstance(v, str)}
            return page.render(request, "report.html", language, 422, values=values, errors=errors)
        try:
            reference = await intake.report(made)
        except Exception as exc:  # the broker away: said, nothing half-sent
            log.warning("public_report.publish_failed", error=type(exc).__name__)
            return PlainTextResponse(TEXTS[language]["unavailable"], status_code=503)
        return page.render(
            request, "sent.html", language, reference=reference, danger=made.immediate_danger
        )

    @app.get("/suivi")
    async def follow_page(request: Request, lang: str | None = None) -> Response:
        return page.render(request, "follow.html", lang_of(lang), status=None, reference="")

    @app.post("/suivi")
    async def follow(request: Request, lang: str | None = None) -> Response:
        language = lang_of(lang)
        form = await page.guarded_form(page.lookups, request, language)
        if isinstance(form, Response):
            return form
        reference = str(form.get("reference") or "")
        case_id = intake.case_of(reference)
        status = await intake.status(case_id) if case_id is not None else None
        if status is None:
            return page.render(
                request, "follow.html", language, 404, status=None, reference="", unknown=True
            )
        return page.render(request, "follow.html", language, status=status, reference=reference)

    @app.post("/suivi/ajouter")
    async def add(request: Request, lang: str | None = None) -> Response:
        language = lang_of(lang)
        form = await page.guarded_form(page.submissions, request, language)
        if isinstance(form, Response):
            return form
        reference = str(form.get("reference") or "")
        case_id = intake.case_of(reference)
        status = await intake.status(case_id) if case_id is not None else None
        if case_id is None or status is None:
            return page.render(
                request, "follow.html", language, 404, status=None, reference="", unknown=True
            )
        addition = addition_from(form, config)
        if isinstance(addition, Refused):
            errors = [TEXTS[language][e] for e in addition.errors]
            return page.render(
                request,
                "follow.html",
                language,
                422,
                status=status,
                reference=reference,
                errors=errors,
            )
        try:
            await intake.add(case_id, addition.text, addition.contact)
        except Exception as exc:
            log.warning("public_report.publish_failed", error=type(exc).__name__)
            return PlainTextResponse(TEXTS[language]["unavailable"], status_code=503)
        return page.render(
            request, "follow.html", language, status=status, reference=reference, added=True
        )

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    return app


def serve(
    settings: HubSettings | None = None,
    config: PublicReportSettings | None = None,
    *,
    host: str = LOOPBACK,
    port: int = 8090,
) -> None:
    """Serve the page with uvicorn until interrupted: no access log (it would write the
    client's address), no proxy headers (the address is the socket's unless told)."""
    settings = settings or get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    uvicorn.run(
        create_public_report_app(settings, config),
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.public_report.app [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="python -m connectors.public_report.app")
    parser.add_argument("--host", default=LOOPBACK, help="default 127.0.0.1 (loopback only)")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    serve(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
