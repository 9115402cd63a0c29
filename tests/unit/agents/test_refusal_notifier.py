"""The worker's refusal notifier: what it writes for each dead letter, within each agency's
budget, and the count it owes once a flood stops (no broker: the writer is recorded)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from agents.hooks import RouterHooks
from agents.refusal_notifier import RefusalNotifier
from hub.contracts.enums import DeadLetterReason
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.topics import outbox_topic
from hub.flow.dead_letters import (
    dead_letter,
)
from hub.flow.decisions import Deliver
from hub.flow.ingest import (
    RawRecord,
)
from hub.rules.directory import Directory
from hub.rules.notice_budget import NoticePolicy
from hub.runtime.settings import get_settings

DIRECTORY = Directory.load(get_settings().config_dir)


class RecordingWriter:
    def __init__(self) -> None:
        self.delivered: list[tuple[uuid.UUID, Deliver]] = []

    async def deliver(self, case_id: uuid.UUID, delivery: Deliver) -> asyncio.Future[object]:
        self.delivered.append((case_id, delivery))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class Counting(RouterHooks):
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def refusal_notice(self, agency: str, *, sent: bool) -> None:
        self.seen.append((agency, sent))


def refused(offset: int, agency: str = "police-93", reason: Any = None) -> DeadLetter:
    raw = RawRecord(outbox_topic(agency), 0, offset, None, b"\x07junk", 1_790_000_000_000)
    return dead_letter(raw, reason or DeadLetterReason.BAD_SIGNATURE, "missing signature")


async def test_a_flood_is_notified_up_to_the_burst_then_once_with_the_count() -> None:
    now = [0.0]
    writer, hooks = RecordingWriter(), Counting()
    notifier = RefusalNotifier(
        writer,  # type: ignore[arg-type]
        NoticePolicy(burst=2, refill_seconds=10.0),
        hooks,
        clock=lambda: now[0],
    )
    for offset in range(5):
        await notifier.refused(refused(offset), DIRECTORY, authenticated=False)
    assert len(writer.delivered) == 2
    assert await notifier.release_due(DIRECTORY) == []  # no token yet
    now[0] = 10.0
    assert len(await notifier.release_due(DIRECTORY)) == 1
    notices = [d.record for _case, d in writer.delivered]
    assert [n["source_offset"] for n in notices] == [0, 1, 4]  # the last counted is told
    assert [n["unnotified_before"] for n in notices] == [0, 0, 2]
    assert {d.recipient.id for _case, d in writer.delivered} == {"police-93"}
    assert hooks.seen.count(("police-93", True)) == 3
    assert hooks.seen.count(("police-93", False)) == 3
    now[0] = 1000.0
    assert await notifier.release_due(DIRECTORY) == []  # nothing owed any more


async def test_budgets_are_per_agency_and_nobody_is_told_without_an_owner() -> None:
    writer = RecordingWriter()
    notifier = RefusalNotifier(
        writer,  # type: ignore[arg-type]
        NoticePolicy(burst=1, refill_seconds=60.0),
        RouterHooks(),
        clock=lambda: 0.0,
    )
    await notifier.refused(refused(0, "police-93"), DIRECTORY, authenticated=True)
    await notifier.refused(refused(1, "police-93"), DIRECTORY, authenticated=True)
    await notifier.refused(refused(0, "prefecture-93"), DIRECTORY, authenticated=True)
    await notifier.refused(refused(0, "nobody-99"), DIRECTORY, authenticated=False)
    failed = refused(2, "police-93", DeadLetterReason.DELIVERY_FAILED)
    await notifier.refused(failed, DIRECTORY, authenticated=True)
    assert [d.recipient.id for _case, d in writer.delivered] == ["police-93", "prefecture-93"]


async def test_a_flood_of_forgeries_does_not_hide_a_genuine_refusal_in_a_count() -> None:
    writer = RecordingWriter()
    notifier = RefusalNotifier(
        writer,  # type: ignore[arg-type]
        NoticePolicy(burst=3, refill_seconds=60.0),
        RouterHooks(),
        clock=lambda: 0.0,
    )
    for offset in range(100):  # anyone on the broker, unsigned
        await notifier.refused(refused(offset), DIRECTORY, authenticated=False)
    genuine = refused(100, reason=DeadLetterReason.UNKNOWN_REQUEST)
    await notifier.refused(genuine, DIRECTORY, authenticated=True)
    notices = [d.record for _case, d in writer.delivered]
    assert len(notices) == 4
    assert notices[-1]["dead_letter_id"] == genuine.dead_letter_id
    assert (notices[-1]["authenticated"], notices[-1]["unnotified_before"]) == (True, 0)
