"""The hub's clock puts a record's wall-clock timestamp on its own timeline, so entries of
received events and of the deadline tick can be ordered together (issue 21, finding 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.runtime.clock import business_instant, clock_from, simulated_clock, wall_clock

ANCHOR = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
START = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (ANCHOR, START),
        (ANCHOR + timedelta(seconds=1), START + timedelta(hours=10)),
        (ANCHOR - timedelta(seconds=1), START - timedelta(hours=10)),  # taken before the anchor
    ],
)
def test_a_wall_instant_maps_onto_the_simulated_timeline(
    wall: datetime, expected: datetime
) -> None:
    clock = simulated_clock(START, ANCHOR, 36_000.0)
    assert business_instant(clock, wall) == expected


def test_under_the_wall_clock_or_a_fixed_test_clock_a_timestamp_is_itself() -> None:
    assert business_instant(wall_clock, ANCHOR) == ANCHOR
    assert business_instant(clock_from(None, None, 1.0), ANCHOR) == ANCHOR
    assert business_instant(lambda: START, ANCHOR) == ANCHOR


def test_the_mapping_agrees_with_what_the_clock_reads() -> None:
    clock = clock_from(START, ANCHOR, 50_000.0)
    before = datetime.now(UTC)
    read = clock()
    after = datetime.now(UTC)
    assert business_instant(clock, before) <= read <= business_instant(clock, after)
