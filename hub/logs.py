"""structlog, configured once per process: console for people, JSON for machines.

Callers bind context (``case_id``, ``event_id``, ``agency``) instead of formatting prose:
``log = structlog.get_logger().bind(case_id=...); log.info("referral.held", missing=...)``.
"""

from __future__ import annotations

import logging
import sys

import structlog


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


def configure_logging(*, json: bool = False, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr, as JSON lines or coloured console."""
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
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    # Libraries (aiokafka, faust) log through the standard library: keep them quieter than
    # the hub and on the same stream.
    logging.basicConfig(stream=sys.stderr, level=max(numeric_level, logging.WARNING))
