"""BodyLimit counts a body as it arrives; loads_json never lets nesting become a defect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from connectors.body_limits import DRAIN_BYTES, BodyLimit, loads_json

LIMIT = 1000


async def refuse(_request: Request, limit: int) -> Response:
    return PlainTextResponse(f"over {limit}", status_code=413)


class Reader:
    """An app that reads the whole body, then answers with its size."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        body = await Request(scope, receive).body()
        await PlainTextResponse(str(len(body)))(scope, receive, send)


def call(
    app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, int, bytes]:
    """Run ``BodyLimit(app)`` over ``chunks``; (status, chunks read, answer body)."""
    pending = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    asyncio.run(BodyLimit(app, limit=LIMIT, refuse=refuse)(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], len(chunks) - len(pending), body


def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    app = Reader()
    status, read, body = call(app, [b"x" * 100] * 20, [(b"content-length", b"2000")])
    # The app never runs; the 2,000 bytes are dropped (drained) so the client reads its 413.
    assert (status, read, body, app.called) == (413, 20, b"over 1000", False)


def test_a_refused_body_is_drained_only_up_to_the_drain_bound() -> None:
    chunks = [b"x" * 65536] * 64  # 4 MiB declared and sent
    status, read, _ = call(Reader(), chunks, [(b"content-length", str(4 * 2**20).encode())])
    assert status == 413
    assert read * 65536 <= DRAIN_BYTES + 65536  # the rest is cut off with the connection


def test_a_body_without_length_is_refused_as_soon_as_it_passes_the_limit() -> None:
    app = Reader()
    status, read, body = call(app, [b"x" * 300] * 10_000, [])
    # The route stops at 1,200 bytes; the rest is dropped up to the drain bound, then cut off.
    assert (status, body) == (413, b"over 1000")
    assert read * 300 <= DRAIN_BYTES + 1200 + 300


def test_a_small_declared_length_does_not_let_a_longer_body_through() -> None:
    status, read, body = call(Reader(), [b"x" * 300] * 10, [(b"content-length", b"10")])
    assert (status, read, body) == (413, 10, b"over 1000")  # 3,000 bytes read, all dropped


def test_an_absurd_content_length_is_over_the_limit_not_a_crash() -> None:
    status, _, _ = call(Reader(), [b""], [(b"content-length", b"9" * 5000)])
    assert status == 413


def test_a_body_within_the_limit_reaches_the_app() -> None:
    status, _, body = call(Reader(), [b"x" * 500, b"x" * 500], [(b"content-length", b"1000")])
    assert (status, body) == (200, b"1000")


def test_loads_json_raises_value_error_for_any_depth() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_json("[" * 100_000 + "]" * 100_000)
    assert loads_json(b'{"a": [1]}') == {"a": [1]}
