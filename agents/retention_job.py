"""``hub retention run``: shred the personal data of cases closed longer than the schedule says.

A scheduled job (a Kubernetes CronJob, or cron): it reads the audit topic to its high
watermark, folds each case's chain into a ``CaseLife`` (``hub.audit.retention``), and for every
case closed for at least ``personal_data_of_closed_cases`` (``deploy/config/retention.yaml``)
appends an ``ERASED`` entry, "expired under the retention schedule", after the chain's head,
signed by the hub, then destroys the case key: every audit payload, sealed case state, dead
letter and re-drive of the case becomes unreadable. The time is the hub's clock (simulated
when ``HUB_CLOCK_START`` is set), so a fast-time run shreds what a real one would years later.

Like ``hub erase`` today, the entry is appended beside the routing worker: a closed case gets
no more entries from it in the ordinary course, and the worker's erasure event (issue 23,
item 4) is where both will converge so that no chain can fork.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from agents.audit_index.hub_proof import hub_proof
from agents.audit_index.indexer import catch_up
from agents.audit_index.store import AuditIndex
from agents.io.audit_fetch import (
    AuditLogUnavailable,
    audit_consumer,
    audit_partitions,
    read_to_high_watermark,
)
from agents.io.outbox_writer import HUB_ACTOR, append_entries
from hub.audit.chain import next_entry
from hub.audit.keys import KeyStore
from hub.audit.log_record import Position, decode_record
from hub.audit.retention import (
    EXPIRED,
    RETENTION_BASIS,
    CaseLife,
    Due,
    due_for_shredding,
    keys_to_finish,
)
from hub.contracts.codec import Codec
from hub.contracts.enums import AgencyRole, AuditAction
from hub.contracts.topics import AUDIT
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import HubSettings
from hub.trust.signing import HubSigner

log = structlog.get_logger(__name__)
READ_TIMEOUT_S = 120.0
INDEX_TIMEOUT_S = 30.0


class RetentionIncomplete(RuntimeError):
    """The audit topic could not be read to its end: no case is shredded on a partial view."""


@dataclass(frozen=True)
class Shredded:
    """A case whose key the run destroyed, and where its ERASED entry went."""

    due: Due
    key_destroyed: bool
    seq: int
    partition: int
    offset: int


@dataclass(frozen=True)
class RetentionRun:
    """What one run found and did."""

    now: datetime
    period_days: int
    cases: int
    due: tuple[Due, ...]
    shredded: tuple[Shredded, ...]
    skipped: tuple[Due, ...] = ()
    """Due, but their key is not in this key store (another deployment's, or a store that
    was lost): nothing is destroyed or recorded for them."""
    finished: tuple[UUID, ...] = ()
    """Cases already recorded as shredded whose key was still there (a run stopped between
    the two steps): destroyed now."""


async def read_lives(
    settings: HubSettings, codec: Codec, *, timeout_s: float = READ_TIMEOUT_S
) -> dict[UUID, CaseLife]:
    """Every case's life from the whole audit topic (entries the hub signed only)."""
    prove = hub_proof(settings)
    found: dict[UUID, CaseLife] = {}

    def on_batch(batch: Mapping[TopicPartition, list[Any]], _progress: dict[int, int]) -> None:
        for tp, records in batch.items():
            for r in records:
                record = decode_record(
                    codec,
                    r.value,
                    key=r.key,
                    position=Position(0, tp.partition, r.offset),
                    prove=prove,
                    headers=tuple(r.headers),
                )
                entry = record.entry
                if record.believed and entry is not None:
                    life = found.get(entry.case_id) or CaseLife(entry.case_id)
                    found[entry.case_id] = life.after(entry)

    consumer = audit_consumer(settings)
    try:
        await consumer.start()
        tps = await audit_partitions(consumer, AUDIT.name)
        complete, _ = await read_to_high_watermark(
            consumer, dict.fromkeys(tps, 0), time.monotonic() + timeout_s, on_batch
        )
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {AUDIT.name}: {exc}") from exc
    finally:
        await consumer.stop()
    if not complete:
        raise RetentionIncomplete(f"{AUDIT.name} not read to its end in {timeout_s:.0f} s")
    return found


async def run_retention(
    settings: HubSettings,
    codec: Codec,
    key_store: KeyStore,
    now: datetime,
    *,
    schedule: RetentionSchedule | None = None,
    dry_run: bool = False,
) -> RetentionRun:
    """Shred every case due at ``now``; with ``dry_run``, only say which."""
    schedule = schedule or RetentionSchedule.load(settings.config_dir)
    rule = schedule.personal_data_of_closed_cases
    cases = await read_lives(settings, codec)
    due = due_for_shredding(cases, now, rule.period)
    unfinished = [
        life.case_id
        for life in keys_to_finish(cases)
        if life.key_id is not None and key_store.get(life.key_id) is not None
    ]
    run = RetentionRun(now, rule.after_closure_days, len(cases), tuple(due), ())
    if dry_run or not (due or unfinished):
        return run
    signer = HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id)
    shredded: list[Shredded] = []
    skipped: list[Due] = []
    for case in due:
        if case.key_id is None or key_store.get(case.key_id) is None:
            log.warning("retention.key_not_here", case_id=str(case.case_id))
            skipped.append(case)
            continue
        # The entry first, then the key: a run stopped in between leaves an entry whose key
        # still exists, which the next run destroys (``keys_to_finish``); the other order
        # would leave a destroyed key no later run could tell from another store's case.
        entry, _head = next_entry(
            case.head,
            case_id=case.case_id,
            recorded_at=now,
            actor=HUB_ACTOR,
            actor_role=AgencyRole.HUB,
            event_id=None,
            action=AuditAction.ERASED,
            decision=EXPIRED,
            reason=f"closed {case.closed_at:%Y-%m-%d}, kept {rule.after_closure_days} days",
            legal_basis=RETENTION_BASIS,
            categories=case.categories,
            key_store=key_store,
        )
        [(partition, offset)] = await append_entries(settings, codec, [entry], signer=signer)
        destroyed = key_store.destroy(case.case_id)
        log.info("retention.shredded", case_id=str(case.case_id), seq=entry.seq)
        shredded.append(Shredded(case, destroyed, entry.seq, partition, offset))
    for case_id in unfinished:
        key_store.destroy(case_id)
        log.info("retention.finished", case_id=str(case_id))
    if shredded:
        with AuditIndex.open(settings) as index:
            await catch_up(settings, index, codec, timeout_s=INDEX_TIMEOUT_S)
    return RetentionRun(
        now,
        rule.after_closure_days,
        len(cases),
        tuple(due),
        tuple(shredded),
        tuple(skipped),
        tuple(unfinished),
    )
