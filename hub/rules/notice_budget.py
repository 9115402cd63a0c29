"""How often the hub may tell one agency that it refused a record of its outbox (hub policy).

A refusal notice is one small record in the agency's inbox. Anyone who reaches the embedded
broker can write garbage on any outbox, and a broken agency system can send thousands of bad
records: one notice each would flood the inbox the agency reads for real work. So each agency
has a token bucket: ``burst`` notices at once, then one more every ``refill_seconds``. A
refusal that finds the bucket empty is counted, not notified; the next notice says how many
went before it (``unnotified_before``), and when the flood stops the last one refused is
notified as soon as a token is back, so a count is never left untold. The dead letters keep
every refusal for operators.

Each agency has two buckets (``agents/refusal_notifier.py`` keys them): one for records its own
signature proved, one for records nobody proved. A flood of forgeries on its outbox spends
only the second, so a genuine refusal of its own system is still notified on its own.

Pure: time is a number of seconds from any monotonic origin, given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import BaseModel, Field


class NoticePolicy(BaseModel, frozen=True):
    """The per-agency budget of refusal notices. Hub policy: no legal text sets it."""

    burst: int = Field(default=20, ge=1, le=10_000)
    refill_seconds: float = Field(default=60.0, gt=0)
    source: str = (
        "hub policy: an agency's honest batch of mistakes is notified one by one (20), a "
        "flood costs its inbox at most one notice a minute"
    )


@dataclass(frozen=True)
class NoticeBucket:
    """One agency's budget: tokens left at ``updated_s``, refusals not notified since the
    last notice."""

    tokens: float
    updated_s: float
    unnotified: int = 0


@dataclass(frozen=True)
class Admission:
    """Whether to write a notice now, how many refusals it must say went unnotified before
    it, and the agency's budget afterwards."""

    send: bool
    unnotified_before: int
    bucket: NoticeBucket


def full_bucket(policy: NoticePolicy, now_s: float) -> NoticeBucket:
    """The budget of an agency not refused recently."""
    return NoticeBucket(tokens=float(policy.burst), updated_s=now_s)


def _refilled(bucket: NoticeBucket, policy: NoticePolicy, now_s: float) -> NoticeBucket:
    elapsed = max(0.0, now_s - bucket.updated_s)  # a clock that steps back refills nothing
    tokens = min(float(policy.burst), bucket.tokens + elapsed / policy.refill_seconds)
    return replace(bucket, tokens=tokens, updated_s=max(now_s, bucket.updated_s))


def admit(bucket: NoticeBucket | None, policy: NoticePolicy, now_s: float) -> Admission:
    """A new refusal: notify it when a token is left (carrying the count of the refusals
    that were not), else count it."""
    current = _refilled(bucket or full_bucket(policy, now_s), policy, now_s)
    if current.tokens >= 1.0:
        spent = replace(current, tokens=current.tokens - 1.0, unnotified=0)
        return Admission(True, current.unnotified, spent)
    return Admission(False, 0, replace(current, unnotified=current.unnotified + 1))


def release(bucket: NoticeBucket, policy: NoticePolicy, now_s: float) -> Admission:
    """After a flood: notify the last refusal that was only counted, once a token is back
    (its notice says how many others went unnotified before it)."""
    current = _refilled(bucket, policy, now_s)
    if current.unnotified == 0 or current.tokens < 1.0:
        return Admission(False, 0, current)
    spent = replace(current, tokens=current.tokens - 1.0, unnotified=0)
    return Admission(True, current.unnotified - 1, spent)
