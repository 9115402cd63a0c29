"""The hub's clock: the wall clock, or a simulated one for demos, training and tests.

Deadlines are days long; a demo or a fast-time test cannot wait for them. A simulated clock
runs ``speed`` times faster than the wall clock from ``start`` (the simulated instant) at
``anchor`` (the wall-clock instant it corresponds to). Because the anchor is fixed, a worker
restarted mid-demo continues the same timeline instead of starting over.

Records carry wall-clock instants (the broker's timestamps); ``business_instant`` puts one on
the hub's clock, so what the hub records about a received event and what its deadline tick
records share one timeline (docs/DASHBOARD.md, "Business-time order").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SimulatedClock:
    """A clock that reads ``start`` at wall time ``anchor`` and runs ``speed`` times faster."""

    start: datetime
    anchor: datetime
    speed: float

    def __call__(self) -> datetime:
        return self.at(wall_clock())

    def at(self, wall: datetime) -> datetime:
        """What this clock read (or will read) at the wall-clock instant ``wall``."""
        return self.start + (wall - self.anchor) * self.speed


def simulated_clock(start: datetime, anchor: datetime, speed: float) -> Clock:
    """A clock that reads ``start`` at wall time ``anchor`` and runs ``speed`` times faster."""
    return SimulatedClock(start, anchor, speed)


def clock_from(start: datetime | None, anchor: datetime | None, speed: float) -> Clock:
    """The wall clock unless a simulated start is given (anchor defaults to now)."""
    if start is None:
        return wall_clock
    return simulated_clock(start, anchor or wall_clock(), speed)


def business_instant(clock: Clock, wall: datetime) -> datetime:
    """The wall-clock instant ``wall`` on ``clock``: itself under the wall clock (or any clock
    that is not a ``SimulatedClock``, e.g. a test's fixed one), mapped under a simulated one.
    A function of ``wall`` only, so an event processed twice is recorded at the same instant."""
    return clock.at(wall) if isinstance(clock, SimulatedClock) else wall
