"""An agency's client over the HTTP gateway: the same ``AgencyEndpoint`` as ``AgencyClient``.

An agency picks Kafka (``AgencyClient``: it signs with its own key) or HTTP (``GatewayClient``:
a bearer token; the gateway signs for it). Both publish typed events, answer requests, yield
each inbox event id once and return the same ``InboxMessage`` (``agency_protocol.py``).

The inbox position is the gateway's opaque cursor, kept in memory and advanced as messages are
returned; ``cursor`` exposes it so an agency can persist it and pass it back on restart. A 429
or 503 is retried a few times after the ``Retry-After`` it names (the event keeps its id, so a
retry that raced a successful write is dropped by the hub); then ``GatewayError`` is raised.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
from pydantic import BaseModel, ValidationError

from connectors.client.agency_protocol import AgencyEndpoint, InboxMessage
from connectors.gateway.models import (
    AVRO_MEDIA_TYPE,
    AckAnswer,
    AckRequest,
    InboxItem,
    InboxPage,
    PublishReceipt,
)
from hub.contracts.codec import Codec
from hub.contracts.enums import AckStatus, DeclineReason
from hub.contracts.events import EVENT_MODELS, subject_of

RETRYABLE = frozenset({429, 503})
MAX_RETRY_AFTER_S = 10.0
LONG_POLL_S = 20.0


class GatewayError(Exception):
    """A refusal from the gateway, with its HTTP status and machine reason."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


class GatewayClient(AgencyEndpoint[PublishReceipt]):
    """Publish to, read from and answer through the hub's HTTP gateway as one agency."""

    def __init__(
        self,
        base_url: str,
        agency_id: str,
        token: str,
        *,
        codec: Codec | None = None,
        cursor: str | None = None,
        retries: int = 3,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        seen_path: Path | None = None,
    ) -> None:
        """``codec``: publish Confluent-framed Avro instead of JSON. ``cursor``: resume the
        inbox where a previous run stopped (None: from the start). ``seen_path``: a sqlite file
        of the event ids already handed over, so a restarted client still drops redeliveries."""
        super().__init__(agency_id, seen_path)
        self.base_url = base_url
        self.codec = codec
        self.retries = retries
        self._token = token
        self._cursor = cursor
        self._timeout_s = timeout_s
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    @property
    def cursor(self) -> str | None:
        """Where the next ``receive`` starts: persist it to resume after a restart."""
        return self._cursor

    @cursor.setter
    def cursor(self, value: str | None) -> None:
        """Resume from a cursor persisted earlier (messages seen since are still dropped)."""
        self._cursor = value

    async def start(self) -> None:
        """Open the HTTP connection pool."""
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=httpx.Timeout(self._timeout_s, read=self._timeout_s + LONG_POLL_S),
            transport=self._transport,
        )

    async def stop(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._seen.close()

    async def publish(self, event: BaseModel) -> PublishReceipt:
        """Send ``event`` to this agency's outbox (the gateway validates, signs and keys it)."""
        path = f"/v1/agencies/{self.agency_id}/events"
        if self.codec is not None:
            answer = await self._request(
                "POST",
                path,
                content=self.codec.encode_event(event),
                headers={"Content-Type": AVRO_MEDIA_TYPE},
            )
        else:
            body = {"subject": subject_of(type(event)), "event": event.model_dump(mode="json")}
            answer = await self._request("POST", path, json=body)
        return PublishReceipt.model_validate(answer.json())

    async def acknowledge(
        self,
        case_id: uuid.UUID,
        request_id: uuid.UUID,
        status: AckStatus | AckAnswer,
        *,
        decline_reason: DeclineReason | None = None,
        detail: str | None = None,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> PublishReceipt:
        """Answer a request (ACCEPTED, DECLINED with a reason, NEEDS_INFORMATION, COMPLETED).

        The event id is chosen here once, so the retries of this call are the same event.
        """
        request = AckRequest(
            case_id=case_id,
            request_id=request_id,
            status=cast(AckAnswer, AckStatus(status).value),
            decline_reason=decline_reason,
            detail=detail,
            event_id=event_id or uuid.uuid4(),
            causation_id=causation_id,
        )
        answer = await self._request(
            "POST",
            f"/v1/agencies/{self.agency_id}/acknowledgements",
            json=request.model_dump(mode="json", exclude_none=True),
        )
        return PublishReceipt.model_validate(answer.json())

    async def receive(
        self, expected: int = 1, timeout_s: float = 10.0, *, commit: bool = True
    ) -> list[InboxMessage]:
        """New inbox messages (each event id once), waiting up to ``timeout_s`` for
        ``expected`` of them. The cursor moves past what is returned. With ``commit`` (the
        default) it counts as kept and its ids are confirmed (``seen_path``); with
        ``commit=False`` the caller stores the messages and then calls ``commit()``, and
        what it never committed is read again after a restart from an older cursor. A
        failure after a page was read returns what was read; the error shows at the next
        call."""
        found: list[InboxMessage] = []
        fresh: set[uuid.UUID] = set()
        cursor = self._cursor
        deadline = time.monotonic() + timeout_s
        while len(found) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            params: dict[str, Any] = {"wait": round(min(remaining, LONG_POLL_S), 3)}
            if cursor:
                params["cursor"] = cursor
            try:
                answer = await self._request(
                    "GET", f"/v1/agencies/{self.agency_id}/inbox", params=params
                )
                page = InboxPage.model_validate(answer.json())
                messages = [self._message(item) for item in page.messages]
            except (GatewayError, httpx.HTTPError, ValidationError, KeyError):
                if found:
                    break
                raise
            for message in messages:
                if self._first_time(message, fresh):
                    found.append(message)
            cursor = page.cursor
        self._seen.hold(fresh)
        self._cursor = cursor
        if commit:
            self._confirm_returned()
        return found

    async def commit(self) -> None:
        """Confirm every message returned so far: with ``seen_path`` their ids are written,
        so a restarted client drops them (as ``AgencyClient.commit``)."""
        self._seen.confirm()

    @staticmethod
    def _message(item: InboxItem) -> InboxMessage:
        return InboxMessage(
            event=EVENT_MODELS[item.subject].model_validate(item.event),
            headers={name: value.encode() for name, value in item.headers.items()},
            partition=item.partition,
            offset=item.offset,
        )

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            raise RuntimeError("call start() (or use `async with`) first")
        for attempt in range(self.retries + 1):
            answer = await self._http.request(method, path, **kwargs)
            if answer.status_code < 400:
                return answer
            if answer.status_code not in RETRYABLE or attempt == self.retries:
                break
            await asyncio.sleep(_retry_after(answer))
        raise _error(answer)


def _retry_after(answer: httpx.Response) -> float:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.1, float(answer.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _error(answer: httpx.Response) -> GatewayError:
    try:
        problem = answer.json()
        return GatewayError(answer.status_code, str(problem["reason"]), str(problem["detail"]))
    except (ValueError, KeyError, TypeError):
        return GatewayError(answer.status_code, "UNKNOWN", answer.text[:500])
