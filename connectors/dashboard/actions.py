"""Operators' actions, published to ``nrm.operator-actions`` for the audit trail.

Each case's audit chain has a single writer, the routing worker that owns the case, so the
dashboard never appends ``AuditEntry`` records itself: it publishes what operators did (logins,
refused logins, logouts, case pages viewed, re-drives requested or failed, erasure requests
approved or rejected) to ``nrm.operator-actions``, and the worker folds the case-related ones
into the case's chain in a later step. A re-driven record is audited again by the worker when it
processes it.

Records are JSON (``OperatorAction``, ``schema`` = ``nrm.operator-action.v1``), keyed by the
case id when there is one, else by the operator id, with a ``content-type`` header. JSON
rather than Avro because registering a new subject changes the committed schema ids; an Avro
``fr.nrm.OperatorAction`` is the step that goes with folding them into the chain.

Actions that open personal data or change something (login, case viewed, re-drive) are
**fail-closed**: if the record cannot be written, the action is refused. A refused login or a
logout is recorded on a best-effort basis.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field

from agents.io import clients
from hub.contracts.topics import OPERATOR_ACTIONS
from hub.runtime.settings import HubSettings

log = structlog.get_logger(__name__)

SCHEMA: Final = "nrm.operator-action.v1"
CONTENT_TYPE: Final = b"application/vnd.nrm.operator-action.v1+json"
BROKER_ERRORS: Final = (KafkaError, OSError, TimeoutError)


class ActionKind(StrEnum):
    """What an operator did."""

    LOGIN = "LOGIN"
    LOGIN_REFUSED = "LOGIN_REFUSED"
    LOGOUT = "LOGOUT"
    CASE_VIEWED = "CASE_VIEWED"
    REDRIVE_REQUESTED = "REDRIVE_REQUESTED"
    REDRIVE_FAILED = "REDRIVE_FAILED"
    ROLES_LOADED = "ROLES_LOADED"
    """The role (``ROLE`` or ``ROLE/REGION``) an operator has in this dashboard process."""
    ACCESS_REFUSED = "ACCESS_REFUSED"
    """A page or action the operator's role does not allow (403)."""
    ERASURE_APPROVED = "ERASURE_APPROVED"
    ERASURE_REJECTED = "ERASURE_REJECTED"
    ERASURE_FAILED = "ERASURE_FAILED"
    """An approval or rejection recorded but not written to ``nrm.erasure``."""


class OperatorAction(BaseModel):
    """One operator action as written to ``nrm.operator-actions``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: Literal["nrm.operator-action.v1"] = Field(default=SCHEMA, alias="schema")
    action_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    action: ActionKind
    operator: str = Field(
        max_length=200,
        description="The operator id; a refused id of no operator only as unknown-<keyed hash>.",
    )
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    case_id: uuid.UUID | None = None
    dead_letter_id: uuid.UUID | None = None
    client: str | None = Field(default=None, description="The client's address.")
    detail: str | None = Field(default=None, max_length=2000)

    def key(self) -> bytes:
        """The record key: the case when there is one, else the operator."""
        return str(self.case_id or self.operator).encode()

    def value(self) -> bytes:
        """The JSON record value."""
        return self.model_dump_json(by_alias=True).encode()


class ActionNotRecorded(RuntimeError):
    """The action could not be written to the topic (so a fail-closed action is refused)."""


class ActionLog:
    """One lazily started producer; every wait bounded by ``timeout_s``."""

    def __init__(
        self, settings: HubSettings, *, topic: str = OPERATOR_ACTIONS.name, timeout_s: float = 5.0
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.timeout_s = timeout_s
        self.recorded: dict[str, int] = {}
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = clients.producer(
                    self.settings, request_timeout_ms=int(self.timeout_s * 1000)
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def record(self, action: OperatorAction) -> None:
        """Write ``action`` and wait for the broker's acknowledgement; ActionNotRecorded if not."""
        try:
            producer = await self._started()
            await asyncio.wait_for(
                producer.send_and_wait(
                    self.topic,
                    action.value(),
                    key=action.key(),
                    headers=[("content-type", CONTENT_TYPE)],
                ),
                self.timeout_s,
            )
        except BROKER_ERRORS as exc:
            log.error(
                "dashboard.action_not_recorded",
                action=action.action.value,
                operator=action.operator,
                error=type(exc).__name__,
            )
            raise ActionNotRecorded(f"{type(exc).__name__}: {exc}") from exc
        self.recorded[action.action.value] = self.recorded.get(action.action.value, 0) + 1
        log.info(
            "dashboard.action",
            action=action.action.value,
            operator=action.operator,
            case_id=str(action.case_id) if action.case_id else None,
            dead_letter_id=str(action.dead_letter_id) if action.dead_letter_id else None,
        )

    async def try_record(self, action: OperatorAction) -> bool:
        """``record`` on a best-effort basis (refused logins, logouts)."""
        try:
            await self.record(action)
        except ActionNotRecorded:
            return False
        return True

    async def broker_answers(self) -> bool:
        """True when the broker answers a metadata request in time (readiness)."""
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self.timeout_s)
        except BROKER_ERRORS:
            return False
        return True

    async def close(self) -> None:
        """Stop the producer (bounded)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await asyncio.wait_for(producer.stop(), self.timeout_s)
