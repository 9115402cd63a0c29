"""The gateway's own settings (``HUB_GATEWAY_`` environment variables), next to ``HubSettings``.

Broker, registry, schemas and the configuration folder come from ``HubSettings``; these are
only what HTTP adds: where the tokens are, limits, and how long to wait for the broker.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Limits and files of the HTTP gateway."""

    model_config = SettingsConfigDict(env_prefix="HUB_GATEWAY_", extra="ignore", frozen=True)

    tokens_file: Path | None = Field(
        default=None,
        description="Hashed API tokens; unset: <HUB_CONFIG_DIR>/gateway_tokens.yaml.",
    )
    signing_keys_dir: Path | None = Field(
        default=None,
        description="Folder of <agency>.pem keys the gateway signs with on behalf of each "
        "agency; unset: the demo keys, <HUB_CONFIG_DIR>/dev-keys. Production gives the gateway "
        "its own key per agency, listed in that agency's signing_keys (docs/SIGNING.md).",
    )
    hub_public_key_file: Path | None = Field(
        default=None,
        description="The hub's public key, to check inbox records; unset: "
        "<HUB_CONFIG_DIR>/hub-public-key.txt.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body (413 OVERSIZE above it). The encoded record must "
        "also fit HUB_MAX_RECORD_BYTES.",
    )
    rate_per_second: float = Field(
        default=50.0, gt=0, description="Sustained requests per second per agency."
    )
    rate_burst: int = Field(default=100, ge=1, description="Requests per agency in a burst.")
    auth_failures: int = Field(
        default=5,
        ge=0,
        description="Wrong secrets for one token id from one client address before that pair "
        "is answered 429 (with Retry-After, no hash computed) for a growing delay.",
    )
    auth_delay_seconds: float = Field(
        default=1.0, gt=0, description="First delay past auth_failures; doubles per failure."
    )
    auth_max_delay_seconds: float = Field(
        default=60.0, gt=0, description="Longest delay imposed on a (client address, token id)."
    )
    max_wait_seconds: float = Field(
        default=20.0, ge=0, le=60, description="Longest long-poll of the inbox."
    )
    max_inbox_messages: int = Field(default=100, ge=1, le=1000)
    publish_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long a publish waits for the broker before 503."
    )
    probe_timeout_seconds: float = Field(
        default=2.0, gt=0, description="How long a broker reachability probe may take."
    )
    healthy_for_seconds: float = Field(
        default=1.0,
        ge=0,
        description="A successful probe is trusted this long before the next request probes.",
    )
