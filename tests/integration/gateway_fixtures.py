"""Helpers for gateway tests: demo tokens, a gateway served on loopback, inbox polling."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from eventually import eventually
from pydantic import BaseModel

from connectors.gateway.app import create_gateway_app
from connectors.gateway.config import GatewaySettings
from connectors.serving import BackgroundServer
from hub.contracts.examples import example_events
from hub.runtime.settings import HubSettings

DEMO_TOKENS = Path("dev-keys") / "gateway-tokens.txt"

Item = dict[str, Any]


def demo_tokens(config_dir: Path) -> dict[str, str]:
    """agency id → its committed demo token (public, demo only)."""
    tokens: dict[str, str] = {}
    for line in (config_dir / DEMO_TOKENS).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            agency, token = line.split()
            tokens[agency] = token
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def gateway_test_settings(**overrides: Any) -> GatewaySettings:
    """Gateway settings for tests: generous rate, short broker waits, unaffected by env."""
    values: dict[str, Any] = {
        "rate_per_second": 1000.0,
        "rate_burst": 1000,
        "publish_timeout_seconds": 3.0,
        "probe_timeout_seconds": 1.0,
        "max_body_bytes": 64 * 1024,
    }
    values.update(overrides)
    return GatewaySettings.model_construct(**values)


@contextmanager
def served_gateway(settings: HubSettings, **overrides: Any) -> Iterator[str]:
    """A gateway app served by uvicorn on a loopback port; yields its base URL."""
    app = create_gateway_app(settings, gateway_test_settings(**overrides))
    server = BackgroundServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def story(case_id: uuid.UUID) -> dict[str, BaseModel]:
    """The example story of ``case_id``, by event class name."""
    return {type(event).__name__: event for _sender, event in example_events(case_id)}


def as_json(event: BaseModel) -> dict[str, Any]:
    """The publish request body for ``event``."""
    return {"subject": f"fr.nrm.{type(event).__name__}", "event": event.model_dump(mode="json")}


async def read_until(
    client: httpx.AsyncClient,
    agency: str,
    token: str,
    wanted: Callable[[Item], bool],
    *,
    timeout_s: float = 20.0,
) -> Item:
    """Page through ``agency``'s inbox with the gateway until a message matches (bounded)."""
    cursor: str | None = None

    async def next_page() -> Item | httpx.Response | None:
        nonlocal cursor
        params: dict[str, Any] = {"wait": 1, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        answer = await client.get(
            f"/v1/agencies/{agency}/inbox", params=params, headers=bearer(token)
        )
        if answer.status_code != 200:
            return answer  # a refusal fails the test below, it is never retried
        page = answer.json()
        cursor = page["cursor"]
        items: list[Item] = page["messages"]
        return next((item for item in items if wanted(item)), None)

    found = await eventually(
        next_page,
        timeout_s=timeout_s,
        max_interval_s=0.2,
        what=f"a matching message in {agency}'s inbox",
    )
    if isinstance(found, httpx.Response):
        assert found.status_code == 200, found.text
    assert isinstance(found, dict)
    return found
