"""Where every decision of the routing worker goes: the one path from an outcome to the topics.

``OutcomeSink.apply`` writes an outcome's deliveries, hub records and audit notes through the
``OutboxWriter``, keeps the case's new state and its deadlines; ``dead_letter`` writes a
refusal and tells the outbox's owner (``agents/refusal_notifier.py``); ``settle`` writes the
changed case states and waits for every write to be acknowledged. Each tells the hooks what
it wrote.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiokafka import AIOKafkaProducer

from agents.hooks import RouterHooks
from agents.io.case_store import CaseStore
from agents.io.outbox_writer import Futures, OutboxWriter
from agents.refusal_notifier import RefusalNotifier
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.flow.deadline_index import PartitionedDeadlines
from hub.flow.decisions import AuditNote, Inbound, Outcome
from hub.rules.directory import Directory


class OutcomeSink:
    """Carries outcomes out for one router: writes, states, deadlines, hooks."""

    def __init__(
        self,
        writer: OutboxWriter,
        producer: AIOKafkaProducer,
        store: CaseStore,
        deadlines: PartitionedDeadlines,
        hooks: RouterHooks,
        notifier: RefusalNotifier,
    ) -> None:
        self.writer = writer
        self.notifier = notifier
        self.producer = producer
        self.store = store
        self.deadlines = deadlines
        self.hooks = hooks

    async def apply(
        self, partition: int, outcome: Outcome, recorded_at: datetime, by: Inbound | None = None
    ) -> Futures:
        """Write an outcome's deliveries, hub records and audit notes; keep its state and its
        deadlines. ``by``: the inbound event decided about (None: the hub's own decision, a
        deadline tick's). Returns the writes in flight."""
        case_id = outcome.state.case_id
        if outcome.destroy_key:  # erasure: before anything of the outcome is written
            self.writer.destroy_key(case_id)
        futures = [await self.writer.deliver(case_id, d) for d in outcome.deliveries]
        futures += [await self.writer.publish(case_id, r) for r in outcome.published]
        for deadline_id in outcome.closed:
            self.deadlines.remove(partition, deadline_id)
        for deadline in outcome.opened:
            self.deadlines.add(partition, deadline)
        notes = audit_notes(outcome)
        state, audit_futures = await self.writer.audit(
            outcome.state,
            notes,
            recorded_at=recorded_at,
            event_id=by.event_id if by else None,
            sender=by.sender.id if by else "hub",
            sender_role=by.sender.role if by else AgencyRole.HUB,
        )
        self.store.put(partition, state)
        self.hooks.outcome_applied(outcome, notes)
        return futures + audit_futures

    async def dead_letter(
        self, letter: DeadLetter, directory: Directory, *, authenticated: bool
    ) -> Futures:
        """Write one dead letter and its refusal notice (within the owner's budget); return
        the writes in flight. ``authenticated``: the owner's signature verified."""
        self.hooks.dead_lettered(letter.reason)
        futures = [await self.writer.dead_letter(letter)]
        return futures + await self.notifier.refused(letter, directory, authenticated=authenticated)

    async def settle(self, futures: Futures) -> None:
        """Write the changed case states, then send everything the writer held once the keys
        it references are durable (one key flush), then wait for every write to be
        acknowledged. The states are held too: a state encoded under a case key is sent only
        after that key is durable."""
        states = await self.store.flush(self.writer)
        await self.writer.release()
        if states:
            self.hooks.states_written(self.store.topic, len(states))
        if futures or states:
            await asyncio.gather(*futures, *states)


def audit_notes(outcome: Outcome) -> tuple[AuditNote, ...]:
    """An outcome's audit notes, led by DEAD_LETTERED when it is a refusal that lacks one."""
    if outcome.refusal is None or any(n.action is AuditAction.DEAD_LETTERED for n in outcome.audit):
        return outcome.audit
    return (
        AuditNote(AuditAction.DEAD_LETTERED, "refused", reason=outcome.refusal.reason.value),
        *outcome.audit,
    )
