"""structlog, configured once per process: console for people, JSON for machines.

Callers bind context (``case_id``, ``event_id``, ``agency``) instead of formatting prose:
``log = structlog.get_logger().bind(case_id=...); log.info("referral.held", missing=...)``.

Libraries (aiokafka, asyncio, ...) log through the standard library: their records are
rendered by the same processors (``structlog.stdlib.ProcessorFormatter``), so a JSON log has
only JSON lines, with the library logger's name in ``logger``. A library retrying against a
broker that is gone repeats one message many times a second: each distinct message is let
through at most once a minute, and the next one let through says how many were left out
(``repeated``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

REPEAT_INTERVAL_S = 60.0


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment.

    Test runners and the CLI runner swap ``sys.stderr``; a logger holding the stream it saw
    first would write to a closed file afterwards.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


class StderrHandler(logging.Handler):
    """The root handler for the standard library's records: one formatted line each, to
    whatever ``sys.stderr`` is at that moment (see ``_StderrLogger``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")  # one write: a line is never split by another
            stream.flush()
        except Exception:
            self.handleError(record)


@dataclass
class _Seen:
    passed_at: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Lets each distinct message (logger, level, text) through at most once per
    ``interval_s``; the next one let through carries ``repeated``, how many were dropped."""

    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_messages: int = 1024,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self.max_messages = max_messages
        self._seen: dict[tuple[str, int, str], _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # bad arguments: let logging report it
            text = str(record.msg)
        key = (record.name, record.levelno, text)
        with self._lock:
            now = self.clock()
            seen = self._seen.get(key)
            if seen is not None and now - seen.passed_at < self.interval_s:
                seen.suppressed += 1
                return False
            if seen is not None and seen.suppressed:
                record.repeated = seen.suppressed
            self._seen[key] = _Seen(now)
            if len(self._seen) > self.max_messages:
                self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        """Bound memory: drop the messages whose interval is over (their dropped repeats
        go unreported), then the oldest."""
        self._seen = {k: s for k, s in self._seen.items() if now - s.passed_at < self.interval_s}
        while len(self._seen) > self.max_messages:
            del self._seen[next(iter(self._seen))]


def configure_logging(*, json: bool = False, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr, as JSON lines or coloured console.

    Idempotent: calling it again replaces the previous configuration (one root handler).
    """
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor
    if json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        # Plain tracebacks: the default (rich, with local variables) printed request headers
        # (token ids, the first characters of secrets) and took ~0.7 s on the event loop.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    # Libraries (aiokafka, uvicorn; Faust in bench/) log through the standard library: keep
    # them quieter than the hub, on the same stream, in the same format.
    foreign: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(allow=("repeated",)),
    ]
    if json:
        foreign.append(structlog.processors.format_exc_info)
    handler = StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(max(numeric_level, logging.WARNING))
