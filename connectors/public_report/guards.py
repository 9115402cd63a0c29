"""Abuse resistance without tracking the reporter: rate limits keyed by a salted hash that
rotates and is never written, and signed double-submit form tokens (CSRF).

Nothing here stores or logs a client's address: ``ClientBuckets`` keeps only
``HMAC(salt, address)``, the salt lives in memory, and at each rotation the salt and every
bucket are dropped together, so no key outlives ``salt_rotation_minutes``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A token bucket's refill (per second) and burst."""

    per_second: float
    burst: int

    @classmethod
    def per_hour(cls, count: float, burst: int) -> Rate:
        return cls(count / 3600.0, burst)


class ClientBuckets:
    """One token bucket per client, keyed by a rotating salted hash of its address."""

    def __init__(
        self,
        rate: Rate,
        *,
        rotation_s: float,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.rotation_s = rotation_s
        self.max_clients = max_clients
        self._clock = clock
        self._salt = secrets.token_bytes(32)
        self._salted_at = clock()
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def _key(self, address: str) -> bytes:
        now = self._clock()
        if now - self._salted_at >= self.rotation_s:
            self._salt, self._salted_at = secrets.token_bytes(32), now
            self._buckets.clear()
        return hmac.new(self._salt, address.encode(), hashlib.sha256).digest()

    def take(self, address: str) -> float:
        """Take one token for the client: 0.0 when granted, else seconds until one is."""
        key = self._key(address)
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - last) * self.rate.per_second)
        granted = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if granted else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0.0 if granted else (1.0 - tokens) / self.rate.per_second

    def held_keys(self) -> list[bytes]:
        """The keys held now (tests check no address is among them)."""
        return list(self._buckets)


class FormTokens:
    """Signed form tokens for the double-submit check: the form carries one, a cookie carries
    the same, and both must match and verify (a cross-site form cannot read the cookie)."""

    def __init__(
        self, secret: bytes, *, lifetime_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.lifetime_s = lifetime_s
        self._clock = clock

    def issue(self) -> str:
        body = f"{int(self._clock())}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, field: str | None, cookie: str | None) -> bool:
        """Whether the form's token equals the cookie's, is ours, and has not expired."""
        if not field or not cookie or not hmac.compare_digest(field, cookie):
            return False
        body, _, mac = field.rpartition(".")
        issued, _, _nonce = body.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(mac, self._mac(body)):
            return False
        age = self._clock() - int(issued)
        return 0 <= age <= self.lifetime_s

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._secret, b"form|" + body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
