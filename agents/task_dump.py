"""Where a live worker is waiting: the await chain of every asyncio task, logged on demand.

``hub worker`` logs ``worker.tasks`` when it receives SIGUSR1 (``kill -USR1 <pid>``): for each
task, the frames from its coroutine down to the innermost await it is parked on. A worker that
is alive but routes nothing shows here what it waits for (it is how defect 10 was located:
fetches going out and coming back empty, not a stuck await).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger(__name__)

MAX_DEPTH = 30


def await_chain(coro: Any) -> list[str]:
    """``file:line function`` for each coroutine in the chain ``coro`` awaits, outermost first."""
    frames: list[str] = []
    while coro is not None and len(frames) < MAX_DEPTH:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def task_stacks() -> dict[str, list[str]]:
    """The await chain of every task of the running loop, by task name."""
    return {task.get_name(): await_chain(task.get_coro()) for task in asyncio.all_tasks()}


def log_task_stacks() -> None:
    """Log ``worker.tasks`` with the await chain of every task."""
    stacks = task_stacks()
    log.warning("worker.tasks", count=len(stacks), tasks=stacks)
