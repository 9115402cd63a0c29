"""The hub's clock: the wall clock, or a simulated one for demos, training and tests.

Deadlines are days long; a demo or a fast-time test cannot wait for them. A simulated clock
runs ``speed`` times faster than the wall clock from ``start`` (the simulated instant) at
``anchor`` (the wall-clock instant it corresponds to). Because the anchor is fixed, a worker
restarted mid-demo continues the same timeline instead of starting over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def simulated_clock(start: datetime, anchor: datetime, speed: float) -> Clock:
    """A clock that reads ``start`` at wall time ``anchor`` and runs ``speed`` times faster."""

    def now() -> datetime:
        return start + (wall_clock() - anchor) * speed

    return now


def clock_from(start: datetime | None, anchor: datetime | None, speed: float) -> Clock:
    """The wall clock unless a simulated start is given (anchor defaults to now)."""
    if start is None:
        return wall_clock
    return simulated_clock(start, anchor or wall_clock(), speed)
