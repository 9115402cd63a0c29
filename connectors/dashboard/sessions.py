"""Operator sessions: a signed cookie (HMAC-SHA256), with a CSRF token and a bounded lifetime.

The cookie holds ``<payload b64url>.<mac b64url>``; the payload is JSON ``{sid, op, exp,
csrf}``. It is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it)
and Secure when the dashboard is served over HTTPS. The signing secret comes from the settings
(``HUB_DASHBOARD_SESSION_SECRET``); without one, a random secret is drawn at start, so
sessions end with the process (fine for the demo, wrong for several replicas).

Logging out revokes the session id in memory until it would have expired anyway, so a copied
cookie stops working at once in this process. Every form that changes something carries the
session's CSRF token as well (SameSite=Strict already stops cross-site posts; this is the
second lock for browsers that ignore it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from dataclasses import dataclass
from typing import Final

COOKIE_NAME: Final = "nrm_operateur"
DEFAULT_LIFETIME_S: Final = 8 * 3600.0
_MAX_REVOKED: Final = 100_000


@dataclass(frozen=True)
class Session:
    """An authenticated operator's session."""

    session_id: str
    operator_id: str
    expires_at: float
    csrf_token: str


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookies with one secret."""

    def __init__(self, secret: bytes, *, lifetime_s: float = DEFAULT_LIFETIME_S) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._key = hashlib.sha256(b"nrm.dashboard.session.v1\0" + secret).digest()
        self.lifetime_s = lifetime_s
        self._revoked: dict[str, float] = {}

    def issue(self, operator_id: str, *, now: float | None = None) -> tuple[Session, str]:
        """A new session for ``operator_id`` and its cookie value."""
        at = time.time() if now is None else now
        session = Session(
            session_id=secrets.token_urlsafe(16),
            operator_id=operator_id,
            expires_at=at + self.lifetime_s,
            csrf_token=secrets.token_urlsafe(24),
        )
        payload = json.dumps(
            {
                "sid": session.session_id,
                "op": session.operator_id,
                "exp": int(session.expires_at),
                "csrf": session.csrf_token,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        return session, f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session of a cookie value, or None if missing, forged, expired or revoked."""
        if not cookie or cookie.count(".") != 1:
            return None
        encoded, mac = cookie.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(mac)
        except (Base64Error, ValueError):
            return None
        if not hmac.compare_digest(self._mac(payload), given):
            return None
        try:
            fields = json.loads(payload)
            session = Session(
                session_id=str(fields["sid"]),
                operator_id=str(fields["op"]),
                expires_at=float(fields["exp"]),
                csrf_token=str(fields["csrf"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        at = time.time() if now is None else now
        if at >= session.expires_at or session.session_id in self._revoked:
            return None
        return session

    def revoke(self, session: Session, *, now: float | None = None) -> None:
        """End ``session`` now (logout); remembered only until it would have expired."""
        at = time.time() if now is None else now
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > at}
        if len(self._revoked) >= _MAX_REVOKED:
            # Bounded memory: drop the revocations closest to their natural expiry.
            for sid, _ in sorted(self._revoked.items(), key=lambda kv: kv[1])[: _MAX_REVOKED // 10]:
                del self._revoked[sid]
        self._revoked[session.session_id] = session.expires_at

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()


def csrf_matches(session: Session, presented: str | None) -> bool:
    """True when a form's CSRF field is the session's token (constant time)."""
    return presented is not None and hmac.compare_digest(
        session.csrf_token.encode(), presented.encode()
    )
