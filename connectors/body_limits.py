"""Request bodies bounded while they arrive, and JSON parsed without a depth crash.

Every HTTP surface of the hub (gateway, dashboard, registry API) mounts ``BodyLimit``: a
``Content-Length`` over the limit is refused before the route sees a byte of the body, and
every body — chunked, without a length, or longer than it declared — is counted chunk by
chunk as the server hands it over, refused (413) as soon as the count passes the limit. No
more than the limit plus one chunk (uvicorn's 64 KiB) is ever held, whatever the route does
with the body later. Before the 413, up to ``DRAIN_BYTES`` of the rest is read and dropped, so
a client that sent a little too much reads its answer rather than a connection reset. Each
surface answers the 413 in its own format through ``refuse``.

``loads_json`` is ``json.loads`` that turns nesting too deep for the parser (RecursionError)
into a ``ValueError``, so ``[[[[…]]]]`` is a malformed body (4xx), not a defect (500).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_BYTES = 1024 * 1024
"""How much of a refused body is read and dropped before the 413, so that a client that sent a
little too much reads its answer instead of a connection reset; a larger body is cut off."""
DRAIN_SECONDS = 2.0

Refusal = Callable[[Request, int], Awaitable[Response]]
"""Builds a surface's 413 answer from the request and the limit in bytes."""


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the {limit}-byte limit")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes while they are read."""

    def __init__(self, app: ASGIApp, *, limit: int, refuse: Refusal) -> None:
        if limit < 1:
            raise ValueError("a body limit is at least 1 byte")
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_length(scope) > self.limit:
            await self._refuse(scope, receive, send, body_left=True)
            return
        received = 0
        body_left = True
        started = False

        async def counted() -> Message:
            nonlocal received, body_left
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_left = bool(message.get("more_body", False))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, body_left=body_left)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, body_left: bool) -> None:
        if body_left:
            await _drain(receive)
        response = await self.refuse(Request(scope), self.limit)
        # What was not drained stays unread: the server closes the connection after the answer.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of a refused body, up to ``DRAIN_BYTES`` and ``DRAIN_SECONDS``:
    nothing is kept, so memory stays flat whatever the client sends."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while dropped <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def declared_length(scope: Scope) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.isdigit():
                return 0
            # Past 18 digits it is over any limit (and int() of 4,300+ digits would raise).
            return int(value) if len(value) <= 18 else 10**18
    return 0


def loads_json(body: bytes | str) -> Any:
    """``json.loads``, with nesting too deep to parse raised as ``ValueError`` like any
    malformed JSON (Python's parser raises RecursionError at about 1,000 levels)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
