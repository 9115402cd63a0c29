"""Growing delays after repeated failures, per key, instead of a hard lock.

The dashboard's logins (key: operator id and client address) and the gateway's token checks
(key: client address and token id) use it the same way: ``wait(key)`` before the costly check
(a positive wait is refused at once, 429, without hashing anything), ``failed(key)`` after a
refusal, ``succeeded(key)`` after a success. A key's first ``free`` attempts are checked at
once; after its ``free``-th failure it waits ``base_s`` before the next check, then twice as
long after each further failure, up to ``max_s`` (never more: an attacker can slow a key down,
never close it for good). A refusal during the wait
does not count as a failure, so hammering does not lengthen the wait; only real wrong guesses
do. A key with no failure for ``forget_s`` is forgotten.

Memory is bounded: at most ``max_keys`` keys are remembered, the least recently failed
forgotten first. Not thread-safe: it lives on one event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    until: float


class FailureBackoff:
    """Per-key failure counts and the wait they impose (see the module docstring)."""

    def __init__(
        self,
        *,
        free: int,
        base_s: float,
        max_s: float,
        forget_s: float | None = None,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free < 0 or base_s <= 0 or max_s < base_s or max_keys < 1:
            raise ValueError("need free >= 0, 0 < base_s <= max_s and max_keys >= 1")
        self.free = free
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = forget_s if forget_s is not None else max(15 * 60.0, 4 * max_s)
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def delay_after(self, failures: int) -> float:
        """The wait imposed after ``failures`` consecutive failures (0.0 below ``free``)."""
        beyond = failures - self.free
        if beyond < 0:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(beyond, 64))

    def _current(self, key: str, now: float) -> _Failures | None:
        state = self._keys.get(key)
        if state is not None and now - state.last >= self.forget_s:
            del self._keys[key]
            return None
        return state

    def wait(self, key: str) -> float:
        """Seconds ``key`` must still wait before its next attempt is checked (0.0: now)."""
        now = self._clock()
        state = self._current(key, now)
        return max(0.0, state.until - now) if state is not None else 0.0

    def failed(self, key: str) -> float:
        """Count one failure of ``key``; the wait it now imposes."""
        now = self._clock()
        state = self._current(key, now)
        count = state.count + 1 if state is not None else 1
        delay = self.delay_after(count)
        self._keys[key] = _Failures(count=count, last=now, until=now + delay)
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return delay

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        self._keys.pop(key, None)
