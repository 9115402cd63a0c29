"""Refusal notices: each dead letter of the routing worker tells the outbox's owner, within a
budget.

``RefusalNotifier.refused`` is called for every dead letter the router writes: it finds who
to tell (``hub.flow.refusal_notice``), asks the agency's budget (``hub.rules.notice_budget``)
and writes the notice, signed by the hub, to the agency's inbox through the one
``OutboxWriter``; a refusal over budget is only counted. ``release_due``, called with the
deadline tick, writes the notice of the last refusal that was only counted once a token is
back, so the count always reaches the agency. Each agency has two budgets: one for records
its own signature proved (its system's mistakes) and one for records nobody proved (what
anyone on the broker can write on its outbox), so a flood of forgeries cannot hide a genuine
refusal inside a count. Budgets live in memory, per worker: a restart
starts them full, and the count not yet told is lost with it (the dead letters keep every
refusal for operators). Time is this process's monotonic clock, never a record's timestamp
(which the writer of the record chooses).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from agents.hooks import RouterHooks
from agents.io.outbox_writer import Futures, OutboxWriter
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.flow.refusal_notice import (
    NO_CASE,
    notice_delivery,
    notice_recipient,
    refusal_notice,
)
from hub.rules.directory import Directory
from hub.rules.notice_budget import Admission, NoticeBucket, NoticePolicy, admit, release

log = structlog.get_logger(__name__)
Budget = tuple[str, bool]
"""An agency's budget of notices: (agency id, whether the refused records were proven its)."""


class RefusalNotifier:
    """Writes refusal notices for one routing worker, each agency within its budget."""

    def __init__(
        self,
        writer: OutboxWriter,
        policy: NoticePolicy,
        hooks: RouterHooks,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.policy = policy
        self.hooks = hooks
        self.clock = clock
        self._buckets: dict[Budget, NoticeBucket] = {}
        self._withheld: dict[Budget, DeadLetter] = {}
        """Per budget: the last refusal counted but not notified."""

    async def refused(
        self, letter: DeadLetter, directory: Directory, *, authenticated: bool
    ) -> Futures:
        """Notify ``letter``'s outbox owner, or count it when over budget; the write in flight."""
        recipient = notice_recipient(letter, directory)
        if recipient is None:
            return []
        budget = (recipient.id, authenticated)
        admission = admit(self._buckets.get(budget), self.policy, self.clock())
        self._buckets[budget] = admission.bucket
        if not admission.send:
            self._withheld[budget] = letter
            self.hooks.refusal_notice(recipient.id, sent=False)
            log.info(
                "refusal_notice.withheld",
                agency=recipient.id,
                dead_letter_id=str(letter.dead_letter_id),
                authenticated=authenticated,
                unnotified=admission.bucket.unnotified,
            )
            return []
        self._withheld.pop(budget, None)
        return await self._write(letter, directory, authenticated, admission)

    async def release_due(self, directory: Directory) -> Futures:
        """Notify, for each budget that is back, the last refusal only counted."""
        futures: Futures = []
        for budget, letter in list(self._withheld.items()):
            admission = release(self._buckets[budget], self.policy, self.clock())
            self._buckets[budget] = admission.bucket
            if admission.send:
                del self._withheld[budget]
                futures += await self._write(letter, directory, budget[1], admission)
        return futures

    async def _write(
        self, letter: DeadLetter, directory: Directory, authenticated: bool, admission: Admission
    ) -> Futures:
        recipient = notice_recipient(letter, directory)
        if recipient is None:  # left the directory while its notice waited
            return []
        notice = refusal_notice(
            letter, authenticated=authenticated, unnotified_before=admission.unnotified_before
        )
        case_id = letter.case_id or NO_CASE
        future = await self.writer.deliver(case_id, notice_delivery(notice, recipient))
        self.hooks.refusal_notice(recipient.id, sent=True)
        log.info(
            "refusal_notice.sent",
            agency=recipient.id,
            reason=letter.reason.value,
            dead_letter_id=str(letter.dead_letter_id),
            notice_id=str(notice.envelope.event_id),
            unnotified_before=admission.unnotified_before,
        )
        return [future]
