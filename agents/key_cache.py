"""A short-lived in-memory cache in front of the audit key store, for the routing hot path.

The worker writes several audit entries per event, each needing its case's key; with the
PKCS#11 store every lookup is a round trip to the HSM (find the sealed key, have the token open
it), and the file store re-checks its journal for erasures by other processes. Keys are cached
for ``ttl`` seconds: an erasure done through this worker invalidates its cache at once, one
done by another process (``hub erase``) reaches this worker within ``ttl`` at the latest
(docs/AUDIT.md).
"""

from __future__ import annotations

import time
from uuid import UUID

from hub.audit.keys import KeyStore

DEFAULT_TTL_S = 30.0


class CachedKeyStore:
    """A ``KeyStore`` that remembers recently used case keys for a bounded time."""

    def __init__(self, inner: KeyStore, *, ttl: float = DEFAULT_TTL_S, limit: int = 100_000):
        self.inner = inner
        self.ttl = ttl
        self.limit = limit
        self._keys: dict[UUID, tuple[float, str, bytes]] = {}

    def get_or_create(self, case_id: UUID) -> tuple[str, bytes]:
        """The case's key, from the cache while it is fresh."""
        now = time.monotonic()
        cached = self._keys.get(case_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1], cached[2]
        key_id, key = self.inner.get_or_create(case_id)
        if len(self._keys) >= self.limit:
            self._keys.clear()
        self._keys[case_id] = (now, key_id, key)
        return key_id, key

    def get(self, key_id: str) -> bytes | None:
        """A key by id, always from the store (replay is not a hot path)."""
        return self.inner.get(key_id)

    def destroy(self, case_id: UUID) -> bool:
        """Forget the cached key, then destroy it in the store."""
        self._keys.pop(case_id, None)
        return self.inner.destroy(case_id)

    def flush(self) -> None:
        """Make the store's new keys durable."""
        self.inner.flush()
