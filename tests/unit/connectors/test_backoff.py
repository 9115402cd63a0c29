"""Growing, bounded delays after failures: what the dashboard and the gateway throttle with."""

from __future__ import annotations

import pytest

from connectors.backoff import FailureBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_free_attempts_then_doubling_delays_up_to_the_bound() -> None:
    clock = Clock()
    backoff = FailureBackoff(free=2, base_s=0.5, max_s=4.0, clock=clock)
    delays = []
    for _ in range(9):
        assert backoff.wait("k") == 0.0
        delays.append(backoff.failed("k"))
        clock.now += delays[-1]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]


def test_hammering_during_the_wait_does_not_lengthen_it() -> None:
    clock = Clock()
    backoff = FailureBackoff(free=1, base_s=2.0, max_s=60.0, clock=clock)
    backoff.failed("k")
    for _ in range(1000):  # refused attempts are only asked about, never counted
        assert backoff.wait("k") > 0
    clock.now += 2.0
    assert backoff.wait("k") == 0.0


def test_keys_are_independent_forgotten_after_quiet_and_cleared_by_success() -> None:
    clock = Clock()
    backoff = FailureBackoff(free=1, base_s=1.0, max_s=8.0, forget_s=100.0, clock=clock)
    for _ in range(5):
        backoff.failed("attacker")
    assert backoff.wait("attacker") > 0
    assert backoff.wait("someone else") == 0.0
    clock.now += 100.0
    assert backoff.failed("attacker") == 1.0  # the count started over
    backoff.succeeded("attacker")
    assert backoff.wait("attacker") == 0.0


def test_memory_is_bounded() -> None:
    backoff = FailureBackoff(free=1, base_s=1.0, max_s=2.0, max_keys=50, clock=Clock())
    for n in range(10_000):
        backoff.failed(f"key-{n}")
    assert len(backoff) == 50


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="base_s <= max_s"):
        FailureBackoff(free=1, base_s=2.0, max_s=1.0)
