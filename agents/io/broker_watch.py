"""Says, once, that the broker is gone and, once, that it is back.

While the broker is unreachable aiokafka logs an error on every retry (tens a second); the
hub log gets one ``router.broker_unreachable`` per outage instead (the first error, the
bootstrap servers) and one ``router.broker_reconnected`` when it is over (``down_s``, and the
positions routing resumes from).

``BrokerWatch`` is a ``logging.Handler`` on the ``aiokafka`` logger: every connection error
any client of the process logs opens the outage or extends it. The outage is over when the
clients have been quiet (no connection error) for ``quiet_s`` *and* the broker has answered
since the last error — a fetch response, a group assignment — which the router reports with
``answered``. A pause between retries therefore never reads as a recovery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, RequestTimedOutError

log = structlog.get_logger(__name__)

LOGGER = "aiokafka"
QUIET_S = 2.0
# What aiokafka logs when it cannot reach a broker (the message templates, before
# formatting) ...
CONNECTION_MESSAGES = (
    "Unable connect to",
    "Unable to request metadata",
    "Unable to update metadata",
)
# ... and the errors it passes as arguments (a fetch, a heartbeat, a coordinator request).
# A broker that answers with an error (no coordinator yet, unknown topic) is not gone.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    NodeNotReadyError,
    RequestTimedOutError,
    OSError,
    asyncio.TimeoutError,
)


def is_connection_error(record: logging.LogRecord) -> bool:
    """Whether an aiokafka record says a broker could not be reached."""
    if record.levelno < logging.WARNING:
        return False
    if isinstance(record.msg, str) and record.msg.startswith(CONNECTION_MESSAGES):
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    exc = record.exc_info[1] if record.exc_info else None
    return any(isinstance(a, CONNECTION_ERRORS) for a in (*args, exc))


class BrokerWatch(logging.Handler):
    """The outage state of one worker's broker connection (see the module)."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        quiet_s: float = QUIET_S,
        clock: Callable[[], float] = time.time,
        logger: Any = None,
    ) -> None:
        super().__init__(logging.WARNING)
        self.quiet_s = quiet_s
        self.clock = clock
        self.log = (logger or log).bind(bootstrap=bootstrap_servers)
        self.down_since: float | None = None
        self.last_error_at = 0.0
        self.answered_at = 0.0
        self.outages = 0
        self._attached: logging.Logger | None = None

    @property
    def down(self) -> bool:
        """Whether an outage is open."""
        return self.down_since is not None

    def attach(self, name: str = LOGGER) -> BrokerWatch:
        """Watch the records of the ``name`` logger (and of its children)."""
        self.detach()
        self._attached = logging.getLogger(name)
        self._attached.addHandler(self)
        return self

    def detach(self) -> None:
        """Stop watching."""
        if self._attached is not None:
            self._attached.removeHandler(self)
            self._attached = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if is_connection_error(record):
                self.failed(record.getMessage(), at=record.created)
        except Exception:
            self.handleError(record)

    def failed(self, error: str, *, at: float | None = None) -> bool:
        """A connection error (at wall-clock time ``at``); True when it opens an outage."""
        at = self.clock() if at is None else at
        self.last_error_at = max(self.last_error_at, at)
        if self.down_since is not None:
            return False
        self.down_since = at
        self.outages += 1
        self.log.error("router.broker_unreachable", error=error, outage=self.outages)
        return True

    def answered(self, *, at: float | None = None) -> None:
        """The broker answered a request (at wall-clock time ``at``).

        Keeps the first answer after the last error: when the broker came back.
        """
        at = self.clock() if at is None else at
        if self.answered_at <= self.last_error_at:
            self.answered_at = at

    def recovered(self) -> bool:
        """Whether the open outage is over: quiet for ``quiet_s`` and answered since."""
        return (
            self.down_since is not None
            and self.clock() - self.last_error_at >= self.quiet_s
            and self.answered_at > self.last_error_at
        )

    def reconnected(self, **context: Any) -> float:
        """Close the outage and say so (with ``context``, e.g. ``resumes_at``); return how
        long the broker was unreachable: from the first error to the first answer after the
        last one."""
        if self.down_since is None:
            return 0.0
        down_s = round(max(self.answered_at, self.last_error_at) - self.down_since, 1)
        self.down_since = None
        self.log.info("router.broker_reconnected", down_s=down_s, outage=self.outages, **context)
        return down_s
