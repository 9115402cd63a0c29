"""Webhook signatures: HMAC-SHA256 over timestamp + "." + body, checked by receivers with a
replay window; retry delays with full jitter; the webhooks configuration."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.webhooks import verify_webhook
from connectors.webhooks.config import RetryPolicy, WebhooksFile, WebhookTarget
from connectors.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSignatureError,
    sign_webhook,
    signed_payload,
    webhook_headers,
)
from hub.runtime.config_files import ConfigError
from hub.runtime.settings import PROJECT_ROOT

SECRET = b"whsec-0123456789abcdef"
BODY = b'{"event_id":"6f1c2a9e-93d0-4c8e-9a57-1d2b3c4d5e6f"}'
NOW = 1_772_445_600


def reason_of(body: bytes, timestamp: str | None, signature: str | None, **kw: object) -> str:
    with pytest.raises(WebhookSignatureError) as refused:
        verify_webhook(body, timestamp, signature, SECRET, now=NOW, **kw)  # type: ignore[arg-type]
    return refused.value.reason


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Pinned so a receiver in another language can check its implementation against it.
    assert signed_payload(NOW, b"{}") == b"1772445600.{}"
    assert sign_webhook(b"secret", NOW, b"{}") == (
        "sha256=d916fa651a5f534da3e1cf1d658933efaee882dda6976579437eca155162c106"
    )


def test_a_signed_delivery_verifies_and_returns_its_timestamp() -> None:
    headers = webhook_headers(SECRET, BODY, timestamp=NOW)
    assert (
        verify_webhook(BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], SECRET, now=NOW)
        == NOW
    )


def test_a_changed_body_or_timestamp_or_secret_does_not_verify() -> None:
    signature = sign_webhook(SECRET, NOW, BODY)
    assert reason_of(BODY + b" ", str(NOW), signature) == "BAD_SIGNATURE"
    assert reason_of(BODY, str(NOW - 1), signature) == "BAD_SIGNATURE"
    assert reason_of(BODY, str(NOW), sign_webhook(b"another-secret-000", NOW, BODY)) == (
        "BAD_SIGNATURE"
    )


def test_a_timestamp_outside_the_replay_window_is_refused_either_way() -> None:
    old, future = NOW - 301, NOW + 301
    assert reason_of(BODY, str(old), sign_webhook(SECRET, old, BODY)) == "STALE_TIMESTAMP"
    assert reason_of(BODY, str(future), sign_webhook(SECRET, future, BODY)) == "STALE_TIMESTAMP"
    inside = NOW - 299
    assert verify_webhook(BODY, str(inside), sign_webhook(SECRET, inside, BODY), SECRET, now=NOW)
    assert reason_of(BODY, str(inside), sign_webhook(SECRET, inside, BODY), tolerance_s=60) == (
        "STALE_TIMESTAMP"
    )


def test_missing_and_malformed_headers_are_named() -> None:
    signature = sign_webhook(SECRET, NOW, BODY)
    assert reason_of(BODY, None, signature) == "MISSING_HEADER"
    assert reason_of(BODY, str(NOW), "") == "MISSING_HEADER"
    assert reason_of(BODY, "yesterday", signature) == "MALFORMED_HEADER"
    assert reason_of(BODY, "-1772445600", signature) == "MALFORMED_HEADER"
    assert reason_of(BODY, str(NOW), signature.removeprefix("sha256=")) == "MALFORMED_HEADER"


def test_any_of_several_secrets_verifies_while_the_secret_is_rotated() -> None:
    signature = sign_webhook(SECRET, NOW, BODY)
    assert verify_webhook(BODY, str(NOW), signature, [b"new-secret-000000", SECRET], now=NOW)


@given(
    body=st.binary(max_size=64),
    timestamp=st.one_of(st.none(), st.text(max_size=20)),
    signature=st.one_of(st.none(), st.text(max_size=80)),
)
def test_nothing_but_a_webhook_signature_error_comes_out_of_random_headers(
    body: bytes, timestamp: str | None, signature: str | None
) -> None:
    with contextlib.suppress(WebhookSignatureError):
        verify_webhook(body, timestamp, signature, SECRET, now=NOW)


def test_retry_delays_use_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(base_delay_seconds=1.0, max_delay_seconds=8.0)
    rng = random.Random(1)
    for failed, cap in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (60, 8.0)):
        delays = [policy.delay(failed, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole window, not clustered at cap
        assert min(delays) < cap * 0.2


def test_the_committed_webhooks_file_loads_with_defaults_filled_in() -> None:
    targets = WebhooksFile.load(PROJECT_ROOT / "deploy" / "config").targets()
    for target in targets.values():
        assert target.retry.max_attempts >= 1
        assert target.secret.startswith(("env:", "file:"))


def test_a_webhook_must_use_https_unless_on_loopback_and_name_its_secret_by_reference() -> None:
    WebhookTarget(url="https://association.example/nrm", secret="env:X")
    WebhookTarget(url="http://127.0.0.1:9000/nrm", secret="file:secrets/x")
    WebhookTarget(url="http://[::1]:9000/nrm", secret="env:X")
    for url in ("http://association.example/nrm", "ftp://127.0.0.1/x", "https:///x"):
        with pytest.raises(ValidationError, match="url"):
            WebhookTarget(url=url, secret="env:X")
    with pytest.raises(ValidationError, match="pas un secret"):
        WebhookTarget(url="https://association.example/nrm", secret="my-literal-secret")
    with pytest.raises(ValidationError, match="max_attempts"):  # a bad bound fails the file
        WebhooksFile.model_validate(
            {
                "webhooks": {
                    "police-93": {"url": "https://p.example", "secret": "env:X", "max_attempts": 0}
                }
            }
        )


def test_secrets_resolve_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NRM_TEST_WEBHOOK_SECRET", "a-long-enough-secret")
    target = WebhookTarget(url="https://x.example", secret="env:NRM_TEST_WEBHOOK_SECRET")
    assert target.resolve_secret(tmp_path) == b"a-long-enough-secret"
    (tmp_path / "secret.txt").write_text("another-long-secret\n")
    target = WebhookTarget(url="https://x.example", secret="file:secret.txt")
    assert target.resolve_secret(tmp_path) == b"another-long-secret"
    for missing in ("env:NRM_TEST_UNSET_VARIABLE", "file:absent.txt"):
        with pytest.raises(ConfigError):
            WebhookTarget(url="https://x.example", secret=missing).resolve_secret(tmp_path)
    monkeypatch.setenv("NRM_TEST_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError):
        WebhookTarget(url="https://x.example", secret="env:NRM_TEST_WEBHOOK_SECRET").resolve_secret(
            tmp_path
        )
