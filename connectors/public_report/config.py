"""The public page's settings (``HUB_PUBLIC_REPORT_`` environment variables).

Every figure here is hub policy (docs/WITNESS_REPORTS.md, "Abuse limits"): no text sets them;
they are sized for one person typing a report, not for a script.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PublicReportSettings(BaseSettings):
    """Limits, secret and identity of the public reporting page."""

    model_config = SettingsConfigDict(env_prefix="HUB_PUBLIC_REPORT_", extra="ignore", frozen=True)

    agency_id: str = Field(
        default="signalement-public",
        description="The directory agency the page signs as (routing.yaml public_intake).",
    )
    signing_key_path: Path | None = Field(
        default=None,
        description="The intake's private key (PEM); unset: the demo key in "
        "<HUB_CONFIG_DIR>/dev-keys. Its public half is the agency's signing_keys entry.",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="Signs form tokens and turns a reference into its case; unset: a random "
        "one per process (references then stop working at a restart).",
    )
    reports_per_hour: float = Field(
        default=6.0, gt=0, description="Sustained submissions per client (reports, additions)."
    )
    burst: int = Field(default=5, ge=1, description="Submissions per client in a burst.")
    lookups_per_hour: float = Field(default=60.0, gt=0, description="Reference look-ups.")
    lookup_burst: int = Field(default=20, ge=1)
    salt_rotation_minutes: int = Field(
        default=60,
        ge=1,
        description="How long one salt keys the rate limits; then the salt and every bucket "
        "are forgotten (nothing about a client lives longer).",
    )
    max_clients: int = Field(
        default=100_000, ge=1, description="Buckets held at most; the oldest go first."
    )
    form_token_minutes: int = Field(default=120, ge=1, description="Life of a form token.")
    max_body_bytes: int = Field(default=32 * 1024, ge=1024, description="Largest request.")
    max_text_chars: int = Field(default=4000, ge=100, description="What was seen, an addition.")
    max_short_chars: int = Field(default=200, ge=20, description="Place, name, contact.")
    trust_forwarded_for: bool = Field(
        default=False,
        description="Key the limits by the last X-Forwarded-For address (only behind a proxy "
        "that sets it); the address is hashed in memory and never written.",
    )
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
