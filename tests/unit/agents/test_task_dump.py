"""SIGUSR1's task dump: each task's await chain down to where it is parked."""

from __future__ import annotations

import asyncio

from agents.task_dump import task_stacks


async def parked(event: asyncio.Event) -> None:
    await inner(event)


async def inner(event: asyncio.Event) -> None:
    await event.wait()


async def test_the_dump_follows_each_task_down_to_the_await_it_is_parked_on() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(parked(event), name="parked-task")
    await asyncio.sleep(0)
    try:
        chain = task_stacks()["parked-task"]
    finally:
        event.set()
        await task
    functions = [frame.rsplit(" ", 1)[1] for frame in chain]
    assert functions[:3] == ["parked", "inner", "wait"]
    assert chain[0].startswith(__file__)
