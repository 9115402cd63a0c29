"""Which agencies receive their inbox by webhook: ``deploy/config/webhooks.yaml``, validated.

Each entry names the agency's URL, a *reference* to its shared secret (``env:NAME`` or
``file:PATH``, never the secret itself: the file is committed, secrets are not), and its retry
bounds. ``defaults`` fills what an entry leaves out. A URL must be https, except on loopback
(tests, a receiver on the same host).
"""

from __future__ import annotations

import os
import random
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.rules.directory import AgencyId
from hub.runtime.config_files import ConfigError, load_config
from hub.runtime.operator_reasons import os_reason

WEBHOOKS_FILE = "webhooks.yaml"
LOOPBACK_NAMES = frozenset({"localhost"})


class RetryPolicy(BaseModel):
    """Bounded retries with exponential backoff and full jitter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts in all.")
    base_delay_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=60.0, gt=0)
    max_total_seconds: float = Field(
        default=600.0, gt=0, description="No retry starts after this long since the first."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per attempt.")

    def delay(self, failed_attempts: int, rng: random.Random) -> float:
        """Seconds to wait after ``failed_attempts`` failures: uniform in [0, cap], where cap
        doubles each time from ``base_delay_seconds`` up to ``max_delay_seconds`` ("full
        jitter": receivers coming back up are not hit by every hub at the same instant)."""
        exponent = min(failed_attempts - 1, 62)
        cap = min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent)
        return rng.uniform(0.0, cap)


class WebhookTarget(BaseModel):
    """Where one agency's inbox is pushed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: str = Field(description="env:VARIABLE or file:PATH (relative to the config folder).")
    retry: RetryPolicy = RetryPolicy()

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("doit être une URL http(s) avec un hôte")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(
                "http en clair seulement vers une adresse de bouclage ; utilisez https"
            )
        return url

    @field_validator("secret")
    @classmethod
    def _reference(cls, secret: str) -> str:
        kind, _, name = secret.partition(":")
        if kind not in ("env", "file") or not name:
            raise ValueError("doit être une référence, env:VARIABLE ou file:CHEMIN, pas un secret")
        return secret

    def resolve_secret(self, config_dir: Path) -> bytes:
        """The shared secret the reference points at (ConfigError when it is missing/empty)."""
        kind, _, name = self.secret.partition(":")
        if kind == "env":
            value = os.environ.get(name, "")
        else:
            path = Path(name) if Path(name).is_absolute() else config_dir / name
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"secret de webhook {self.secret} : {os_reason(exc)}") from None
        value = value.strip()
        if len(value) < 16:
            raise ConfigError(
                f"secret de webhook {self.secret} absent ou de moins de 16 caractères"
            )
        return value.encode()


class WebhookEntry(BaseModel):
    """An entry of the file: the target, with retry fields inline (defaults fill the rest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: str
    max_attempts: int | None = None
    base_delay_seconds: float | None = None
    max_delay_seconds: float | None = None
    max_total_seconds: float | None = None
    timeout_seconds: float | None = None


class WebhooksFile(BaseModel):
    """The shape of ``webhooks.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: RetryPolicy = RetryPolicy()
    webhooks: dict[AgencyId, WebhookEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _entries_are_valid(self) -> WebhooksFile:
        self.targets()  # an invalid URL, secret reference or retry bound fails the file
        return self

    def targets(self) -> dict[str, WebhookTarget]:
        """agency id → its target, ``defaults`` filled in."""
        found: dict[str, WebhookTarget] = {}
        for agency, entry in self.webhooks.items():
            overrides = entry.model_dump(exclude={"url", "secret"}, exclude_none=True)
            retry = RetryPolicy.model_validate({**self.defaults.model_dump(), **overrides})
            found[agency] = WebhookTarget(url=entry.url, secret=entry.secret, retry=retry)
        return found

    @classmethod
    def load(cls, config_dir: Path) -> WebhooksFile:
        """Load and validate ``webhooks.yaml`` (an absent file: no webhooks)."""
        path = config_dir / WEBHOOKS_FILE
        if not path.exists():
            return cls()
        return load_config(path, cls)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
