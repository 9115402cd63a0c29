"""Signed webhook deliveries: what the hub puts in the headers, and how a receiver checks them.

Each POST carries::

    X-NRM-Timestamp: 1772445600                   (Unix seconds when this attempt was signed)
    X-NRM-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The receiver recomputes the HMAC over the exact bytes it received, compares in constant time,
and refuses a timestamp outside its replay window (default 5 minutes either way): a captured
delivery cannot be replayed later, and a changed body or timestamp does not verify. Every retry
is signed afresh with its own timestamp.

This module only needs the standard library, so a receiver can copy it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

TIMESTAMP_HEADER = "X-NRM-Timestamp"
SIGNATURE_HEADER = "X-NRM-Signature"
EVENT_ID_HEADER = "X-NRM-Event-Id"
ATTEMPT_HEADER = "X-NRM-Delivery-Attempt"
SCHEME = "sha256="
DEFAULT_TOLERANCE_S = 300
_MAX_TIMESTAMP_DIGITS = 12


class WebhookSignatureError(ValueError):
    """A delivery whose signature or timestamp does not check out; ``reason`` says which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def signed_payload(timestamp: int | str, body: bytes) -> bytes:
    """The bytes the HMAC covers: the timestamp's decimal digits, ``.``, the body."""
    return str(timestamp).encode("ascii") + b"." + body


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-NRM-Signature`` value for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret, signed_payload(timestamp, body), hashlib.sha256).hexdigest()
    return f"{SCHEME}{digest}"


def webhook_headers(secret: bytes, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The two signature headers of one delivery attempt (timestamp: now)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign_webhook(secret, stamp, body)}


def verify_webhook(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    secret: bytes | Sequence[bytes],
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a delivery as a receiver; return its timestamp, or raise WebhookSignatureError.

    ``body`` is the raw request body (before any JSON parsing), ``timestamp`` and
    ``signature`` the two header values, ``secret`` the shared secret (or several while it is
    rotated: any may match). Reasons: ``MISSING_HEADER``, ``MALFORMED_HEADER``,
    ``STALE_TIMESTAMP`` (outside ``tolerance_s`` either way), ``BAD_SIGNATURE``.
    """
    if not timestamp or not signature:
        raise WebhookSignatureError(
            "MISSING_HEADER", f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
        )
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookSignatureError("MALFORMED_HEADER", f"{TIMESTAMP_HEADER} is not Unix seconds")
    if not signature.startswith(SCHEME):
        raise WebhookSignatureError("MALFORMED_HEADER", f"{SIGNATURE_HEADER} must start {SCHEME}")
    stamp = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        raise WebhookSignatureError(
            "STALE_TIMESTAMP",
            f"signed {current - stamp:.0f} s from now, outside the {tolerance_s} s window",
        )
    secrets = [secret] if isinstance(secret, bytes) else list(secret)
    presented = signature[len(SCHEME) :].encode("ascii", "replace")
    for candidate in secrets:
        expected = sign_webhook(candidate, stamp, body)[len(SCHEME) :].encode("ascii")
        if hmac.compare_digest(expected, presented):
            return stamp
    raise WebhookSignatureError("BAD_SIGNATURE", "the signature does not match the body")
