"""The Confluent Schema Registry REST subset that stock Kafka clients use, over hub/registry.

It answers what a serializer or deserializer asks (schema by id, subject versions, lookup,
compatibility, config) from the committed registry. It is read-only: new schemas are
registered with ``hub schemas register`` and committed, so ids stay stable everywhere.
Anything it does not serve is a JSON 404 with a Confluent error code, never a crash. Request
bodies are bounded while they arrive (``HUB_REGISTRY_API_MAX_BODY_BYTES``, 413), and JSON too
deeply nested to parse is a 422 like any invalid body.
"""

from __future__ import annotations

from typing import Any

import fastavro
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.body_limits import BodyLimit, loads_json
from connectors.client_disconnects import log_client_disconnects
from hub.contracts.registry import (
    COMPATIBILITY_LEVEL,
    RegisteredSchema,
    SchemaRegistry,
    UnknownSchemaError,
)

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"

# Confluent error codes (https://docs.confluent.io/platform/current/schema-registry/develop/api.html)
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
READ_ONLY = 42205
BODY_TOO_LARGE = 41300  # the status times 100, as for every status Confluent does not number


class RegistryApiSettings(BaseSettings):
    """Limits of the registry REST API (``HUB_REGISTRY_API_`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HUB_REGISTRY_API_", extra="ignore", frozen=True)

    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body (a posted schema); 413 above it, refused while it "
        "arrives. The committed schemas are a few KiB each.",
    )


class RegistryResponse(JSONResponse):
    """JSON with the registry's media type."""

    media_type = MEDIA_TYPE


def _error(status: int, code: int, message: str) -> RegistryResponse:
    return RegistryResponse({"error_code": code, "message": message}, status_code=status)


def _version_body(schema: RegisteredSchema) -> dict[str, Any]:
    return {
        "subject": schema.subject,
        "version": schema.version,
        "id": schema.schema_id,
        "schema": schema.text,
    }


def create_registry_app(
    registry: SchemaRegistry, settings: RegistryApiSettings | None = None
) -> FastAPI:
    """A FastAPI app serving ``registry`` with Confluent's REST paths."""
    settings = settings or RegistryApiSettings()
    app = FastAPI(title="NRM Hub schema registry", default_response_class=RegistryResponse)

    async def too_large(_request: Request, limit: int) -> RegistryResponse:
        return _error(413, BODY_TOO_LARGE, f"request body exceeds the {limit}-byte limit")

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, refuse=too_large)
    log_client_disconnects(app, "registry")

    @app.exception_handler(StarletteHTTPException)
    async def not_served(_request: Request, exc: StarletteHTTPException) -> RegistryResponse:
        code = SCHEMA_NOT_FOUND if exc.status_code == 404 else exc.status_code * 100
        return _error(exc.status_code, code, f"not served by the embedded registry: {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> RegistryResponse:
        return _error(422, INVALID_SCHEMA, f"invalid request: {exc.errors()}")

    def version_of(subject: str, version: str) -> RegisteredSchema | RegistryResponse:
        try:
            versions = registry.versions(subject)
        except UnknownSchemaError:
            return _error(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        if version in ("latest", "-1"):
            return versions[-1]
        if not version.isdigit():
            return _error(422, INVALID_VERSION, f"'{version}' is not a valid version")
        for registered in versions:
            if registered.version == int(version):
                return registered
        return _error(404, VERSION_NOT_FOUND, f"Version {version} not found.")

    async def posted_schema(request: Request) -> dict[str, Any] | RegistryResponse:
        try:
            body = loads_json(await request.body())
            schema = loads_json(body["schema"])
        except (ValueError, KeyError, TypeError) as exc:
            return _error(422, INVALID_SCHEMA, f"body must be {{'schema': '<json>'}}: {exc}")
        if body.get("schemaType", "AVRO") != "AVRO" or not isinstance(schema, dict):
            return _error(422, INVALID_SCHEMA, "only AVRO record schemas are served")
        try:
            fastavro.parse_schema(schema)
        except Exception as exc:  # whatever fastavro raises on untrusted input: a 422
            return _error(422, INVALID_SCHEMA, f"not an Avro schema: {type(exc).__name__}: {exc}")
        return schema

    @app.exception_handler(RecursionError)
    async def too_deep(_request: Request, _exc: RecursionError) -> RegistryResponse:
        # A schema that parsed but nests too deeply for the checks that walk it.
        return _error(422, INVALID_SCHEMA, "schema nested too deeply")

    @app.get("/")
    async def root() -> dict[str, Any]:
        return {}

    @app.get("/schemas/ids/{schema_id}")
    async def schema_by_id(schema_id: int) -> Any:
        try:
            return {"schema": registry.by_id(schema_id).text}
        except UnknownSchemaError:
            return _error(404, SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")

    @app.get("/schemas/ids/{schema_id}/versions")
    async def versions_by_id(schema_id: int) -> Any:
        try:
            found = registry.by_id(schema_id)
        except UnknownSchemaError:
            return _error(404, SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        return [{"subject": found.subject, "version": found.version}]

    @app.get("/schemas/ids/{schema_id}/subjects")
    async def subjects_by_id(schema_id: int) -> Any:
        try:
            return [registry.by_id(schema_id).subject]
        except UnknownSchemaError:
            return _error(404, SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")

    @app.get("/schemas/types")
    async def schema_types() -> list[str]:
        return ["AVRO"]

    @app.get("/subjects")
    async def subjects() -> list[str]:
        return registry.subjects()

    @app.get("/subjects/{subject}/versions")
    async def subject_versions(subject: str) -> Any:
        try:
            return [s.version for s in registry.versions(subject)]
        except UnknownSchemaError:
            return _error(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")

    @app.get("/subjects/{subject}/versions/{version}")
    async def subject_version(subject: str, version: str) -> Any:
        found = version_of(subject, version)
        return found if isinstance(found, RegistryResponse) else _version_body(found)

    @app.get("/subjects/{subject}/versions/{version}/schema")
    async def subject_version_schema(subject: str, version: str) -> Any:
        found = version_of(subject, version)
        return found if isinstance(found, RegistryResponse) else found.schema

    @app.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request) -> Any:
        schema = await posted_schema(request)
        if isinstance(schema, RegistryResponse):
            return schema
        if subject not in registry.subjects():
            return _error(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        found = registry.find(subject, schema)
        if found is None:
            return _error(404, SCHEMA_NOT_FOUND, "Schema not found")
        return _version_body(found)

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> Any:
        schema = await posted_schema(request)
        if isinstance(schema, RegistryResponse):
            return schema
        found = registry.find(subject, schema) if subject in registry.subjects() else None
        if found is not None:
            return {"id": found.schema_id}
        return _error(
            422,
            READ_ONLY,
            "the embedded registry is read-only: register schemas with "
            "`hub schemas register` and commit them, so ids stay stable",
        )

    @app.post("/compatibility/subjects/{subject}/versions")
    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility(subject: str, request: Request, version: str = "latest") -> Any:
        # The level is BACKWARD_TRANSITIVE: a candidate is checked against every version,
        # whichever one the path names.
        schema = await posted_schema(request)
        if isinstance(schema, RegistryResponse):
            return schema
        found = version_of(subject, version)
        if isinstance(found, RegistryResponse):
            return found
        problems = registry.incompatibilities(subject, schema)
        return {"is_compatible": not problems, "messages": [p.describe() for p in problems]}

    @app.get("/config")
    async def config() -> dict[str, str]:
        return {"compatibilityLevel": COMPATIBILITY_LEVEL}

    @app.get("/config/{subject}")
    async def subject_config(subject: str) -> Any:
        if subject not in registry.subjects():
            return _error(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        return {"compatibilityLevel": COMPATIBILITY_LEVEL}

    @app.get("/mode")
    async def mode() -> dict[str, str]:
        return {"mode": "READONLY"}

    return app
