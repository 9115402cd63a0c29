"""The budget of refusal notices per agency (hub policy, docs/RELIABILITY.md "Refusal
notices"): an honest batch of mistakes is notified one by one, a flood of garbage costs the
inbox at most one notice per refill period, and no count of refusals is ever left untold."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hub.rules.notice_budget import NoticeBucket, NoticePolicy, admit, full_bucket, release

POLICY = NoticePolicy(burst=3, refill_seconds=10.0)


def flood(times: list[float]) -> list[tuple[bool, int]]:
    """Refusals at ``times``: whether each was notified, and its unnotified_before."""
    bucket: NoticeBucket | None = None
    seen = []
    for now in times:
        admission = admit(bucket, POLICY, now)
        bucket = admission.bucket
        seen.append((admission.send, admission.unnotified_before))
    return seen


@dataclass(frozen=True)
class Case:
    name: str
    times: list[float]
    expected: list[tuple[bool, int]]


CASES = [
    Case("a single refusal is notified", [0.0], [(True, 0)]),
    Case("a burst is notified one by one", [0, 0, 0], [(True, 0)] * 3),
    Case(
        "past the burst, refusals are counted and the next notice tells the count",
        [0, 0, 0, 1, 2, 3, 10],
        [(True, 0)] * 3 + [(False, 0)] * 3 + [(True, 3)],
    ),
    Case(
        "a flood of 1000 in one second costs the inbox the burst only",
        [i / 1000 for i in range(1000)],
        [(True, 0)] * 3 + [(False, 0)] * 997,
    ),
    Case(
        "tokens come back with time, up to the burst and no more",
        [0, 0, 0, 1000, 1000, 1000, 1000],
        [(True, 0)] * 6 + [(False, 0)],
    ),
    Case(
        "a clock stepping back refills nothing",
        [100, 100, 100, 50, 99],
        [(True, 0)] * 3 + [(False, 0)] * 2,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_notices_follow_the_budget(case: Case) -> None:
    assert flood([float(t) for t in case.times]) == case.expected


def test_after_a_flood_the_last_refusal_is_notified_with_the_count_once_a_token_is_back() -> None:
    bucket = full_bucket(POLICY, 0.0)
    for _ in range(3 + 5):  # the burst, then five counted only
        bucket = admit(bucket, POLICY, 0.0).bucket
    assert bucket.unnotified == 5
    too_soon = release(bucket, POLICY, 5.0)
    assert not too_soon.send
    assert too_soon.bucket.unnotified == 5
    released = release(too_soon.bucket, POLICY, 10.0)
    # The notice is the fifth refusal's; four went before it without a notice of their own.
    assert (released.send, released.unnotified_before) == (True, 4)
    assert released.bucket.unnotified == 0
    assert not release(released.bucket, POLICY, 1000.0).send  # nothing left to tell


def test_the_default_policy_is_labelled_hub_policy() -> None:
    policy = NoticePolicy()
    assert (policy.burst, policy.refill_seconds) == (20, 60.0)
    assert policy.source.startswith("hub policy")
