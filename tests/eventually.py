"""Waiting in tests for what the system does in its own time, bounded and never by a bare sleep.

``eventually`` re-runs a check until it holds (a broker delivered, a worker caught up, a file
appeared); ``consistently`` re-runs one for a fixed quiet period to prove that nothing
happens. A check is a plain or async callable: it holds when it returns a truthy value and
does not hold when it returns a falsy one or raises ``AssertionError`` (any other exception
is a real failure and propagates at once). Both give up with an ``AssertionError`` that names
what was awaited and the last value or error seen. Checks are bounded in number too: at
most one per ``interval_s`` of the bound. Between checks the pause starts at
``interval_s`` and grows by half each time up to ``max_interval_s``: no busy loop, and a slow
condition is not hammered. The time bound includes the checks themselves; a check that blocks
(a fetch with its own timeout) should block for less than the bound.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

GROWTH = 1.5
MAX_INTERVAL_S = 1.0


class _Attempts:
    """The bookkeeping both waits share: the time bound, the next pause, the last outcome."""

    def __init__(self, timeout_s: float, interval_s: float, max_interval_s: float) -> None:
        if timeout_s <= 0 or interval_s <= 0:
            raise ValueError("timeout_s and interval_s must be positive")
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        self.interval_s = interval_s
        self.max_interval_s = max(interval_s, max_interval_s)
        self.checks = 0
        self.last: object = None
        self.error: AssertionError | None = None

    def record(self, value: object = None, error: AssertionError | None = None) -> None:
        self.checks += 1
        self.last, self.error = value, error

    def pause(self) -> float | None:
        """How long to wait before the next check, or None when the bound is reached: the
        last check runs at the bound at the latest, never after it."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(self.interval_s, left)
        self.interval_s = min(self.interval_s * GROWTH, self.max_interval_s)
        return pause

    def failure(self, what: str, verb: str) -> AssertionError:
        elapsed = time.monotonic() - self.started
        seen = (
            f"last error: {self.error}" if self.error is not None else f"last value: {self.last!r}"
        )
        return AssertionError(
            f"{what}: {verb} after {elapsed:.1f} s and {self.checks} checks ({seen})"
        )


async def _outcome(check: Callable[[], object]) -> object:
    value = check()
    if inspect.isawaitable(value):
        value = await value
    return value


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = ...,
    max_interval_s: float = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = ...,
    max_interval_s: float = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    max_interval_s: float = MAX_INTERVAL_S,
) -> object:
    """Re-run ``check`` until it holds and return its first truthy value; raise an
    ``AssertionError`` naming ``what`` and the last value or error after ``timeout_s``."""
    attempts = _Attempts(timeout_s, interval_s, max_interval_s)
    while True:
        try:
            value = await _outcome(check)
        except AssertionError as error:
            attempts.record(error=error)
        else:
            if value:
                return value
            attempts.record(value)
        pause = attempts.pause()
        if pause is None:
            raise attempts.failure(what, "not yet") from attempts.error
        await asyncio.sleep(pause)


def eventually_sync(
    check: Callable[[], T],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    max_interval_s: float = MAX_INTERVAL_S,
) -> T:
    """``eventually`` for code without an event loop (threads, subprocesses, a browser)."""
    attempts = _Attempts(timeout_s, interval_s, max_interval_s)
    while True:
        try:
            value = check()
        except AssertionError as error:
            attempts.record(error=error)
        else:
            if value:
                return value
            attempts.record(value)
        pause = attempts.pause()
        if pause is None:
            raise attempts.failure(what, "not yet") from attempts.error
        time.sleep(pause)


async def consistently(
    check: Callable[[], object],
    *,
    for_s: float,
    what: str,
    interval_s: float = 0.05,
    max_interval_s: float = MAX_INTERVAL_S,
) -> None:
    """Re-run ``check`` for ``for_s`` seconds (a quiet period that proves nothing happens),
    and raise an ``AssertionError`` naming ``what`` as soon as it does not hold."""
    attempts = _Attempts(for_s, interval_s, max_interval_s)
    while True:
        try:
            value = await _outcome(check)
        except AssertionError as error:
            attempts.record(error=error)
            raise attempts.failure(what, "broken") from error
        attempts.record(value)
        if not value:
            raise attempts.failure(what, "broken")
        pause = attempts.pause()
        if pause is None:
            return
        await asyncio.sleep(pause)
