"""The hub's one settings object, read from ``HUB_`` environment variables.

Defaults run the embedded setup: a loopback broker, the registry built from ``schemas/`` and
the configuration files under ``deploy/config/``. Production sets the bootstrap servers, the
security protocol and (optionally) a Confluent-compatible registry URL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SecurityProtocol(StrEnum):
    """Kafka transport security, as Kafka names it."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class KeyStoreKind(StrEnum):
    """Where per-case audit keys live (``hub.audit.key_stores``)."""

    FILE = "file"
    PKCS11 = "pkcs11"


class HubSettings(BaseSettings):
    """Everything a hub process needs to know about its environment."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    registry_url: str | None = Field(
        default=None,
        description="Confluent-compatible schema registry URL; unset means the embedded "
        "registry built from schemas/.",
    )
    schemas_dir: Path = Field(default=PROJECT_ROOT / "schemas")
    config_dir: Path = Field(default=PROJECT_ROOT / "deploy" / "config")
    data_dir: Path = Field(
        default=PROJECT_ROOT / "var", description="Local state: Faust tables, key store."
    )
    client_id: str = "nrm-hub"
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    # The embedded broker holds a group join for half the session timeout (see
    # docs/BROKER.md): 6 s keeps joins near 3 s without flapping on a busy 2-core machine.
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    fetch_max_wait_ms: int = Field(
        default=50, ge=0, description="How long a consumer fetch may wait for data."
    )
    max_record_bytes: int = Field(
        default=512 * 1024, description="Records larger than this are dead letters (OVERSIZE)."
    )
    signing_key_path: Path = Field(
        default=PROJECT_ROOT / "deploy" / "config" / "dev-keys" / "hub.pem",
        description="The hub's Ed25519 private key: it signs everything the hub emits.",
    )
    signing_key_id: str = "hub-2026-1"
    directory_authority_public_key_file: Path | None = Field(
        default=None,
        description="The directory authority's first public key (base64): every change on "
        "nrm.directory must be signed by it or by a key it handed over to. Unset: "
        "<config_dir>/directory-authority-public-key.txt.",
    )
    directory_authority_key_id: str = "directory-authority-2026-1"
    directory_authority_key_path: Path = Field(
        default=PROJECT_ROOT / "deploy" / "config" / "dev-keys" / "directory-authority.pem",
        description="The authority's Ed25519 private key, used by `hub directory` only (never "
        "by the worker); the default is the demo's public dev key.",
    )
    operator_action_key_path: Path = Field(
        default=PROJECT_ROOT / "deploy" / "config" / "dev-keys" / "operator-actions.pem",
        description="The operator-action Ed25519 private key: the CLI and the dashboard sign "
        "re-drives and erasure commands with it (never the hub's key); the worker trusts it for "
        "nrm.redrive and nrm.erasure only. Its public half is "
        "<config_dir>/operator-actions-public-key.txt. The default is the demo's public dev key.",
    )
    operator_action_key_id: str = "operator-actions-2026-1"
    previous_hub_public_keys: tuple[str, ...] = Field(
        default=(),
        description="Public keys (base64) the hub signed with before a rotation: what they "
        "signed, audit entries included, still proves the hub wrote it. The current one is "
        "<config_dir>/hub-public-key.txt. JSON list in HUB_PREVIOUS_HUB_PUBLIC_KEYS.",
    )
    key_store: KeyStoreKind = Field(
        default=KeyStoreKind.FILE,
        description="Per-case audit keys: a journal under data_dir (file, one node) or a "
        "PKCS#11 token (pkcs11: an HSM in production, docs/DEPLOYMENT.md).",
    )
    pkcs11_module: Path = Field(
        default=Path("/usr/lib/softhsm/libsofthsm2.so"),
        description="The PKCS#11 library of the HSM (or a cloud KMS's PKCS#11 library).",
    )
    pkcs11_token_label: str = Field(default="nrm-hub", description="The token's label.")
    pkcs11_pin: SecretStr | None = Field(
        default=None, description="The token user's PIN (a mounted secret in production)."
    )
    pkcs11_kek_label: str = Field(
        default="nrm-hub-kek",
        description="The token's AES key-encryption key: sensitive, non-extractable.",
    )
    verify_signatures: bool = Field(
        default=True, description="Benchmarks only: false lets anyone publish as anyone."
    )
    signature_past_window: timedelta = Field(
        default=timedelta(hours=24),
        description="How old a signature may be: covers re-reading outboxes after a crash.",
    )
    signature_future_window: timedelta = timedelta(minutes=5)
    refusal_notice_burst: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Refusal notices an agency may receive at once before the rate limit "
        "(hub policy, hub/rules/notice_budget.py).",
    )
    refusal_notice_refill_seconds: float = Field(
        default=60.0, gt=0, description="Seconds for one more refusal notice after the burst."
    )
    clock_start: datetime | None = Field(
        default=None,
        description="Simulated clock (demos, training, fast-time tests): the simulated instant "
        "at HUB_CLOCK_ANCHOR. Unset: the wall clock.",
    )
    clock_anchor: datetime | None = Field(
        default=None, description="Wall-clock instant at which the simulated clock reads start."
    )
    clock_speed: float = Field(default=1.0, gt=0, description="Simulated seconds per second.")
    health_host: str = Field(default="127.0.0.1", description="Worker health/metrics bind.")
    health_port: int | None = Field(
        default=None, description="Worker /healthz, /readyz, /metrics port; unset: none."
    )
    log_json: bool = False
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings, read once from the environment."""
    return HubSettings()
