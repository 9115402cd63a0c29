"""Inbox cursors: what a client may send back, and what is refused before any broker read."""

from __future__ import annotations

import pytest

from connectors.gateway.inbox import MAX_OFFSET, Cursor
from connectors.gateway.problems import GatewayReason, ProblemError

AGENCY = "association-93"


def test_a_cursor_round_trips_up_to_kafkas_largest_offset() -> None:
    cursor = Cursor(AGENCY, {0: 0, 3: MAX_OFFSET})
    assert Cursor.decode(cursor.encode(), AGENCY) == cursor


@pytest.mark.parametrize(
    "offsets",
    [{0: 2**63}, {0: 2**64}, {0: -1}, {-1: 0}, {2**31: 0}, {0: 10**400}],
    ids=["2^63", "2^64", "negative offset", "negative partition", "partition 2^31", "huge"],
)
def test_offsets_and_partitions_outside_kafkas_range_are_invalid_cursors(
    offsets: dict[int, int],
) -> None:
    with pytest.raises(ProblemError) as refused:
        Cursor.decode(Cursor(AGENCY, offsets).encode(), AGENCY)
    assert refused.value.reason is GatewayReason.INVALID_CURSOR
    assert refused.value.status == 400


def test_another_agencys_cursor_is_invalid() -> None:
    with pytest.raises(ProblemError) as refused:
        Cursor.decode(Cursor("police-93", {0: 1}).encode(), AGENCY)
    assert refused.value.reason is GatewayReason.INVALID_CURSOR
