"""The tests' one way to wait: ``eventually`` and ``consistently`` (tests/eventually.py)."""

from __future__ import annotations

import time

import pytest
from eventually import consistently, eventually, eventually_sync

# Upper bounds on elapsed time leave this much room: no test fails because a machine is slow,
# yet a wait that ran to another bound (seconds) still fails.
SLACK_S = 2.0


class Countdown:
    """A check that fails ``failures`` times (by its value or an assertion), then holds."""

    def __init__(self, failures: int, *, raises: bool = False) -> None:
        self.failures = failures
        self.raises = raises
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        if self.calls <= self.failures:
            assert not self.raises, f"not yet ({self.calls})"
            return None
        return f"held at call {self.calls}"


async def test_it_returns_the_first_truthy_value_and_stops_there() -> None:
    check = Countdown(3)
    assert await eventually(check, timeout_s=5, interval_s=0.01, what="the countdown") == (
        "held at call 4"
    )
    assert check.calls == 4


async def test_an_assertion_error_means_not_yet() -> None:
    check = Countdown(2, raises=True)
    assert await eventually(check, timeout_s=5, interval_s=0.01, what="the countdown")
    assert check.calls == 3


async def test_an_async_check_is_awaited() -> None:
    check = Countdown(1)

    async def later() -> str | None:
        return check()

    assert await eventually(later, timeout_s=5, interval_s=0.01, what="x") == "held at call 2"


async def test_a_check_that_holds_at_once_never_waits() -> None:
    started = time.monotonic()
    assert await eventually(lambda: 7, timeout_s=5, interval_s=1.0, what="seven") == 7
    assert time.monotonic() - started < SLACK_S  # far below the interval's 1 s times retries


async def test_after_the_bound_it_raises_naming_what_and_the_last_error() -> None:
    check = Countdown(10_000, raises=True)
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"the inbox: not yet after .* checks") as raised:
        await eventually(check, timeout_s=0.3, interval_s=0.01, what="the inbox")
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + SLACK_S  # the bound, plus what a loaded machine adds
    assert f"last error: not yet ({check.calls})" in str(raised.value)
    assert isinstance(raised.value.__cause__, AssertionError)


async def test_after_the_bound_it_raises_with_the_last_value() -> None:
    values = iter(range(1000))
    with pytest.raises(AssertionError, match=r"zero forever.*last value: 0"):
        await eventually(
            lambda: next(values) * 0, timeout_s=0.2, interval_s=0.01, what="zero forever"
        )


async def test_the_pause_grows_so_checks_are_bounded_in_number() -> None:
    check = Countdown(10_000)
    with pytest.raises(AssertionError):
        await eventually(check, timeout_s=1.0, interval_s=0.01, max_interval_s=0.2, what="x")
    # A fixed 10 ms pause would check ~100 times; growing by half up to 0.2 s, about a dozen.
    assert 5 < check.calls < 25


async def test_another_exception_is_a_real_failure_and_propagates_at_once() -> None:
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise KeyError("gone")

    with pytest.raises(KeyError):
        await eventually(broken, timeout_s=5, interval_s=0.01, what="x")
    assert calls == 1


@pytest.mark.parametrize(("timeout_s", "interval_s"), [(0, 0.1), (1, 0), (-1, 0.1)])
async def test_a_bound_or_pause_that_is_not_positive_is_refused(
    timeout_s: float, interval_s: float
) -> None:
    with pytest.raises(ValueError, match="positive"):
        await eventually(lambda: True, timeout_s=timeout_s, interval_s=interval_s, what="x")


def test_the_sync_twin_returns_the_first_truthy_value() -> None:
    check = Countdown(2, raises=True)
    assert eventually_sync(check, timeout_s=5, interval_s=0.01, what="x") == "held at call 3"


def test_the_sync_twin_raises_after_the_bound() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"the file: not yet .*last value: None"):
        eventually_sync(lambda: None, timeout_s=0.3, interval_s=0.01, what="the file")
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK_S


async def test_consistently_checks_for_the_whole_quiet_period() -> None:
    calls = 0

    def quiet() -> bool:
        nonlocal calls
        calls += 1
        return True

    started = time.monotonic()
    await consistently(quiet, for_s=0.3, interval_s=0.01, what="the inbox stays empty")
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK_S
    assert calls > 2


async def test_consistently_fails_as_soon_as_the_check_breaks() -> None:
    check = Countdown(2)  # quiet for two calls, then something arrives

    def inverted() -> bool:
        return check() is None

    started = time.monotonic()
    with pytest.raises(AssertionError, match="nothing arrives: broken"):
        await consistently(inverted, for_s=5, interval_s=0.01, what="nothing arrives")
    assert check.calls == 3
    assert time.monotonic() - started < SLACK_S  # well before the 5 s period


async def test_consistently_reports_the_assertion_that_broke_it() -> None:
    def late_duplicate() -> bool:
        raise AssertionError("two copies of one message")

    with pytest.raises(AssertionError, match="two copies of one message"):
        await consistently(late_duplicate, for_s=5, interval_s=0.01, what="no duplicate")
