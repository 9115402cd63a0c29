"""The gateway's limits: a token bucket per agency (429) and a bounded request body (413)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response

from connectors.gateway.problems import GatewayReason, ProblemError, problem_response
from hub.contracts.enums import DeadLetterReason

log = structlog.get_logger(__name__)


class TokenBuckets:
    """One token bucket per key (agency): ``rate`` requests per second, bursts of ``burst``.

    Not thread-safe; it lives on the gateway's event loop. Keys are the directory's agencies,
    a bounded set, so buckets are never evicted.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def check(self, key: str) -> None:
        """Take one token or raise RATE_LIMITED (429) with a ``Retry-After`` header."""
        wait = self.take(key)
        if wait > 0:
            raise ProblemError(
                GatewayReason.RATE_LIMITED,
                f"more than {self.burst} requests in a burst or {self.rate:g}/s sustained; "
                f"retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as OVERSIZE (413) as soon as it exceeds ``limit`` bytes.

    ``connectors.body_limits.BodyLimit`` already bounds every request of the gateway before
    any route runs (``refuse_oversize``); this keeps the route's own bound, and its answer.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked
    body is counted while it streams, so no more than ``limit`` bytes are ever held.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(
            DeadLetterReason.OVERSIZE, f"body of {declared} bytes exceeds the {limit}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(DeadLetterReason.OVERSIZE, f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def refuse_oversize(request: Request, limit: int) -> Response:
    """The 413 OVERSIZE problem of a body refused while it arrived (``BodyLimit``)."""
    log.info("gateway.refused", path=request.url.path, reason=DeadLetterReason.OVERSIZE.value)
    return problem_response(
        DeadLetterReason.OVERSIZE,
        f"body exceeds the {limit}-byte limit",
        instance=request.url.path,
    )
