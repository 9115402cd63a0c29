"""Reading the audit log for verification: one case through the index (O(entries of the case),
never a scan), or the whole topic up to its high watermark."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from agents.audit_index.hub_proof import hub_proof
from agents.audit_index.store import AuditIndex
from agents.io.audit_fetch import (
    AuditLogUnavailable,
    audit_consumer,
    audit_partitions,
    read_offsets,
    read_to_high_watermark,
)
from hub.audit.chain import ChainHead
from hub.audit.log_record import LogRecord, Position, ProblemKind, decode_record
from hub.audit.proof import ProofCheck
from hub.audit.verify import ChainVerifier, VerificationReport
from hub.contracts.codec import Codec
from hub.contracts.hub_records import (
    AuditEntry,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import AUDIT
from hub.runtime.settings import HubSettings


async def fetch_case_records(
    settings: HubSettings,
    index: AuditIndex,
    case_id: UUID,
    codec: Codec,
    *,
    prove: ProofCheck,
    timeout_s: float = 10.0,
) -> list[LogRecord]:
    """The indexed records of one case, in log order, each with its position and whether the
    hub signed it (``prove``: ``agents.audit_index.hub_proof.hub_proof(settings)``).

    A record the index knows but the log no longer has comes back as a MISSING record, so
    ``verify`` names it.
    """
    positions = index.positions(case_id)
    wanted: dict[int, list[int]] = {}
    for p in positions:
        wanted.setdefault(p.partition, []).append(p.offset)
    found = await read_offsets(settings, index.topic, wanted, timeout_s=timeout_s)
    records: list[LogRecord] = []
    for number, p in enumerate(positions):
        position = Position(number, p.partition, p.offset)
        stored = found.get((p.partition, p.offset))
        if stored is None:
            records.append(
                LogRecord(
                    position,
                    None,
                    str(case_id).encode(),
                    f"l'entrée {p.seq} connue de l'index n'est plus dans le journal",
                    ProblemKind.MISSING,
                    p.seq,
                )
            )
            continue
        records.append(
            decode_record(
                codec,
                stored.value,
                key=stored.key,
                position=position,
                prove=prove,
                headers=stored.headers,
            )
        )
    return records


async def fetch_case(
    settings: HubSettings,
    index: AuditIndex,
    case_id: UUID,
    *,
    codec: Codec | None = None,
    timeout_s: float = 10.0,
) -> list[AuditEntry]:
    """The entries of one case that decode and that the hub signed, in log order: O(case)
    reads, never a scan."""
    codec = codec or Codec(SchemaRegistry.load(settings.schemas_dir))
    records = await fetch_case_records(
        settings, index, case_id, codec, prove=hub_proof(settings), timeout_s=timeout_s
    )
    return [r.entry for r in records if r.believed and r.entry is not None]


async def verify_topic(
    settings: HubSettings,
    codec: Codec,
    *,
    topic: str = AUDIT.name,
    heads: Mapping[UUID, ChainHead] | None = None,
    prove: ProofCheck | None = None,
    timeout_s: float = 120.0,
) -> tuple[VerificationReport, bool]:
    """Verify every chain in ``topic``, read to its high watermark; (report, complete).

    ``prove``: whether the hub signed each record (default: the keys of ``settings``).
    """
    check = prove or hub_proof(settings)
    consumer = audit_consumer(settings)
    verifier = ChainVerifier()
    count = 0

    def on_batch(batch: Mapping[TopicPartition, list[Any]], _progress: dict[int, int]) -> None:
        # A case lives in one partition, read in offset order: chains can be checked as
        # batches arrive, keeping only a few fields per entry in memory.
        nonlocal count
        for tp, records in batch.items():
            for r in records:
                position = Position(count, tp.partition, r.offset)
                verifier.add(
                    decode_record(
                        codec,
                        r.value,
                        key=r.key,
                        position=position,
                        prove=check,
                        headers=tuple(r.headers),
                    )
                )
                count += 1

    try:
        await consumer.start()
        tps = await audit_partitions(consumer, topic)
        complete, _ = await read_to_high_watermark(
            consumer, dict.fromkeys(tps, 0), time.monotonic() + timeout_s, on_batch
        )
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        await consumer.stop()
    return verifier.report(heads), complete
