"""``hub retention run``: expire the cases whose last contact is older than the schedule says.

A scheduled job (a Kubernetes CronJob, or cron). It reads every case state from the changelog,
asks ``hub.flow.expiry.verdict`` which cases are due at ``now`` (730 days after their last
contact, ``deploy/config/retention.yaml``) and which a legal hold keeps, and writes one
``RetentionExpiry`` per due case to ``nrm.erasure``, signed by the hub and keyed by the case.
The routing worker that owns the case applies it in order with the case's other events, as
the single writer of its chain: it checks again on its own clock and against the holds, then
destroys the key and chains the ``ERASED`` entry ("expired under the retention schedule"),
so a late event can never fork the chain. The job then waits until the states show it.

The job writes nothing itself but commands: a clock set ahead on the job's side (the CLI
refuses one ahead of the wall clock anyway) cannot expire a case early, because the worker's
clock decides.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import structlog

from agents.io import clients
from agents.io.case_store import CaseStore, read_all_states
from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.erasure_events import (
    RetentionExpiry,
)
from hub.contracts.events import (
    subject_of,
)
from hub.contracts.partitioning import case_partition
from hub.contracts.topics import CASE_STATE, ERASURE
from hub.flow.case_state import CaseState
from hub.flow.expiry import Due, Held, verdict
from hub.rules.holds import HoldPolicy
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import HubSettings
from hub.trust.signing import HubSigner

log = structlog.get_logger(__name__)
WAIT_S = 30.0
POLL_S = 1.0


@dataclass(frozen=True)
class DueCase:
    """A case the run found due, and its last contact."""

    case_id: UUID
    last_contact: datetime


@dataclass(frozen=True)
class HeldCase:
    """A case due but kept by legal holds (RGPD art. 17(3))."""

    case_id: UUID
    last_contact: datetime
    holds: tuple[str, ...]


@dataclass(frozen=True)
class RetentionRun:
    """What one run found and what became of it."""

    now: datetime
    period_days: int
    cases: int
    due: tuple[DueCase, ...]
    held: tuple[HeldCase, ...]
    run_id: UUID | None = None
    """The run's id in its commands (None: nothing was sent)."""
    expired: tuple[UUID, ...] = ()
    """Due cases the worker has expired (their state is erased)."""
    pending: tuple[UUID, ...] = ()
    """Due cases the worker had not expired when the run stopped waiting (it may have
    refused: the case's chain says why)."""


def survey(
    states: list[CaseState], now: datetime, schedule: RetentionSchedule, holds: HoldPolicy
) -> tuple[list[DueCase], list[HeldCase]]:
    """The cases due at ``now``, and those a hold keeps, oldest last contact first."""
    period = schedule.personal_data_of_cases.period
    due: list[DueCase] = []
    held: list[HeldCase] = []
    for state in states:
        found = verdict(state, now, period, holds)
        if isinstance(found, Due):
            due.append(DueCase(state.case_id, found.last_contact))
        elif isinstance(found, Held):
            held.append(HeldCase(state.case_id, found.last_contact, found.holds))
    due.sort(key=lambda d: (d.last_contact, str(d.case_id)))
    held.sort(key=lambda h: (h.last_contact, str(h.case_id)))
    return due, held


async def send_expiries(
    settings: HubSettings, codec: Codec, run_id: UUID, due: list[DueCase]
) -> None:
    """One signed ``RetentionExpiry`` per due case to ``nrm.erasure``, keyed by the case."""
    signer = HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id)
    producer = clients.producer(settings)
    await producer.start()
    try:
        for case in due:
            event = RetentionExpiry(
                envelope=Envelope(
                    event_id=uuid.uuid4(), case_id=case.case_id, occurred_at=datetime.now(UTC)
                ),
                run_id=run_id,
                last_contact_at=case.last_contact,
            )
            value = codec.encode(subject_of(RetentionExpiry), event.model_dump())
            key = str(case.case_id).encode()
            headers = signer.sign(ERASURE.name, key, value)
            await producer.send_and_wait(ERASURE.name, value, key=key, headers=headers)
            log.info("retention.expiry_sent", case_id=str(case.case_id), run_id=str(run_id))
    finally:
        await producer.stop()


async def erased_among(
    settings: HubSettings, wanted: set[UUID], key_store: KeyStore | None
) -> set[UUID]:
    """Which of ``wanted`` the changelog shows erased (reads only their partitions)."""
    partitions = {case_partition(case_id, CASE_STATE.partitions) for case_id in wanted}
    store = CaseStore(settings, key_store=key_store)
    await store.recover(partitions)
    return {
        state.case_id
        for partition in partitions
        for state in store.states(partition)
        if state.case_id in wanted and state.erased_at is not None
    }


async def run_retention(
    settings: HubSettings,
    codec: Codec,
    now: datetime,
    *,
    key_store: KeyStore | None = None,
    schedule: RetentionSchedule | None = None,
    dry_run: bool = False,
    wait_s: float = WAIT_S,
) -> RetentionRun:
    """Find the cases due at ``now``, send their expiries (not with ``dry_run``) and wait up
    to ``wait_s`` for the worker to apply them."""
    schedule = schedule or RetentionSchedule.load(settings.config_dir)
    holds = HoldPolicy.load(settings.config_dir)
    states = await read_all_states(settings, key_store=key_store)
    due, held = survey(states, now, schedule, holds)
    run = RetentionRun(
        now,
        schedule.personal_data_of_cases.after_last_contact_days,
        len(states),
        tuple(due),
        tuple(held),
    )
    if dry_run or not due:
        return run
    run_id = uuid.uuid4()
    await send_expiries(settings, codec, run_id, due)
    wanted = {d.case_id for d in due}
    expired: set[UUID] = set()
    deadline = time.monotonic() + wait_s
    while wait_s > 0:
        expired = await erased_among(settings, wanted, key_store)
        if expired == wanted or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    order = [d.case_id for d in due]
    return RetentionRun(
        run.now,
        run.period_days,
        run.cases,
        run.due,
        run.held,
        run_id,
        tuple(c for c in order if c in expired),
        tuple(c for c in order if c not in expired),
    )
