"""The fetch pacer's rule (defect 10): raise the wait only when fetches starve."""

from __future__ import annotations

from typing import Any

from agents.io.fetch_pacer import FetchPacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def pacer(wait_ms: int = 50, **options: Any) -> tuple[FetchPacer, Clock, Log]:
    clock, log = Clock(), Log()
    return FetchPacer(wait_ms, clock=clock, logger=log, **options), clock, log


def starve(p: FetchPacer, clock: Clock, seconds: float, backlog: int = 10) -> list[int]:
    """Empty fetches every 100 ms for ``seconds`` while ``backlog`` records wait."""
    raised = []
    for _ in range(round(seconds * 10)):
        new = p.observe(0, backlog)
        if new is not None:
            raised.append(new)
        clock.now += 0.1
    return raised


def test_empty_fetches_with_a_backlog_double_the_wait_after_the_patience() -> None:
    p, clock, log = pacer()
    assert starve(p, clock, 1.9) == []
    assert starve(p, clock, 0.3) == [100]
    assert p.wait_ms == 100
    assert p.raised == 1
    assert log.events[0][0] == "fetch.starved"
    assert log.events[0][1]["backlog"] == 10
    assert log.events[0][1]["wait_ms"] == 100


def test_a_wait_of_zero_is_raised_to_100_ms() -> None:
    p, clock, _ = pacer(0)
    assert starve(p, clock, 2.2) == [100]


def test_the_patience_grows_with_the_wait_and_the_wait_stops_at_the_ceiling() -> None:
    p, clock, _ = pacer(1_000, ceiling_ms=4_000)
    assert starve(p, clock, 3.9) == []  # four waits of 1 s, not two seconds
    assert starve(p, clock, 0.3) == [2_000]
    assert starve(p, clock, 8.2) == [4_000]
    assert starve(p, clock, 60) == []
    assert p.wait_ms == 4_000


def test_records_or_an_empty_backlog_are_not_starvation() -> None:
    p, clock, _ = pacer()
    for _ in range(100):  # records keep coming: a slow trickle is progress
        assert p.observe(0, 10) is None
        clock.now += 0.1
        assert p.observe(3, 10) is None
    assert starve(p, clock, 30, backlog=0) == []  # idle: nothing waits
    assert p.wait_ms == 50
    assert p.raised == 0


def test_a_broker_outage_pauses_the_count() -> None:
    p, clock, _ = pacer()
    assert starve(p, clock, 1.5) == []
    p.pause()
    assert starve(p, clock, 1.5) == []  # 1.5 s since the pause, not 3 s since the start
