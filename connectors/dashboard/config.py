"""The dashboard's own settings (``HUB_DASHBOARD_`` environment variables), next to ``HubSettings``.

Broker, clock, configuration and data folders come from ``HubSettings``; these are only what
the operators' web page adds: who may log in, how sessions are signed, how fresh the data is.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """Operators, sessions and refresh of the dashboard."""

    model_config = SettingsConfigDict(env_prefix="HUB_DASHBOARD_", extra="ignore", frozen=True)

    operators_file: Path | None = Field(
        default=None,
        description="Operators and their scrypt password hashes; unset: "
        "<HUB_CONFIG_DIR>/operators.yaml.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs session cookies (32 bytes or more). Unset: a random secret drawn at "
        "start, so sessions end with the process (demo only; several replicas need one secret).",
    )
    session_hours: float = Field(default=8.0, gt=0, le=24, description="Session lifetime.")
    secure_cookie: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it when a TLS proxy fronts the "
        "dashboard; requests that arrive over HTTPS get it anyway).",
    )
    refresh_seconds: float = Field(
        default=5.0, ge=0.2, le=300, description="How often case states are re-read."
    )
    index_dir: Path | None = Field(
        default=None,
        description="Writable folder of the dashboard's audit case index; unset: "
        "<HUB_DATA_DIR>/dashboard. The data folder may be mounted read-only (it holds the "
        "audit keys): then point this at a writable volume.",
    )
    action_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long recording an operator action may take."
    )
    login_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed logins of one (operator id, client address) pair before its next "
        "attempts are delayed (an address gets four times as many over all ids). Never a lock: "
        "the delay grows, bounded, and other addresses are not slowed.",
    )
    login_delay_seconds: float = Field(
        default=1.0, gt=0, description="First delay past login_attempts; doubles per failure."
    )
    login_max_delay_seconds: float = Field(
        default=300.0, gt=0, description="Longest delay between two checked login attempts."
    )
