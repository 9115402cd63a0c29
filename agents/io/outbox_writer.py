"""The one place that writes the hub's decisions to topics: inbox projections, dead letters,
and the case's hash-chained audit entries. The routing worker writes all three; the webhook
deliverer its dead letters; tools append audit entries with ``append_entries``.

Audit entries are signed once per batch (``hub.trust.batch_signing``: a Merkle root signed,
each record with its own inclusion path), everything else record by record.

Every write is sent without waiting; the caller awaits the returned futures before it commits
the input offsets (at-least-once). Audit entries are chained from the head kept in the case
state, and are deterministic, so a re-processed event re-creates byte-identical entries.

No record that references a case key (an audit entry, a sealed dead letter or case state)
reaches the broker before the key survives a crash. The routing worker's writer (``hold=True``)
holds every write of a batch until ``release``: the key store first makes the batch's new case
keys durable (one journal ``fsync`` for the whole batch), then the held records go to the
producer as one ``send_batch`` per partition, in the order they were written within each
partition; a crash before the flush loses only records that were never sent, and the
uncommitted batch is read again. Every write held until a release returns the same future,
done when all the release's batches are acknowledged. Any other writer flushes the key store
before each send (a no-op when no key is pending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from uuid import UUID

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from agents.io import clients
from agents.io.audit_fetch import AuditLogUnavailable
from hub.audit.chain import ChainHead, next_entry
from hub.audit.keys import KeyDestroyedError, KeyStore
from hub.contracts.codec import Codec, CodecError
from hub.contracts.enums import AgencyRole
from hub.contracts.hub_records import (
    AuditEntry,
    DeadLetter,
)
from hub.contracts.topics import AUDIT, DEAD_LETTERS, inbox_topic
from hub.flow.case_state import CaseState
from hub.flow.decisions import AuditNote, Deliver, Publish
from hub.flow.sealed_letters import seal_letter
from hub.runtime.settings import HubSettings
from hub.trust.batch_signing import sign_batch
from hub.trust.signing import HubSigner, RecordSigner

log = structlog.get_logger(__name__)
HUB_ACTOR = "hub"
Futures = list["asyncio.Future[object]"]
_PARTITIONER = DefaultPartitioner()
"""The producer's own (``clients.producer`` keeps aiokafka's default): batches go where
``send()`` would have put each record."""


@dataclass(slots=True)
class _Held:
    """A write kept until ``release``; audit entries get their batch signature then."""

    topic: str
    value: bytes
    key: bytes | None
    partition: int | None
    headers: list[tuple[str, bytes]]
    audit: bool = field(default=False)


class OutboxWriter:
    """Encodes, signs and sends what the flow decided. Without a key store it writes no audit
    entries and no dead letter of a known case (it could not seal the original)."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        codec: Codec,
        key_store: KeyStore | None = None,
        signer: RecordSigner | None = None,
        *,
        hold: bool = False,
    ) -> None:
        self.producer = producer
        self.codec = codec
        self.key_store = key_store
        self.signer = signer
        self.hold = hold
        self._held: list[_Held] = []
        self._released: asyncio.Future[object] | None = None

    async def _send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[object]:
        signed = list(headers)
        if self.signer is not None:
            signed += self.signer.sign(topic, key, value)
        if self.hold:
            return self._hold(_Held(topic, value, key, None, signed))
        if self.key_store is not None:
            self.key_store.flush()
        future: asyncio.Future[object] = await self.producer.send(
            topic, value, key=key, headers=signed
        )
        return future

    def _hold(self, held: _Held) -> asyncio.Future[object]:
        """Keep ``held`` until ``release``; every write held until then shares one future,
        done when all of them are acknowledged."""
        self._held.append(held)
        if self._released is None:
            self._released = asyncio.get_running_loop().create_future()
        return self._released

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None
    ) -> asyncio.Future[object]:
        """An unsigned record (the hub-internal case-state changelog), held like every write
        of the batch: the case store writes through this, so a state that needs a case key
        also waits for the key flush."""
        if self.hold:
            return self._hold(_Held(topic, value, key, partition, []))
        if self.key_store is not None:
            self.key_store.flush()
        future: asyncio.Future[object] = await self.producer.send(
            topic, value, key=key, partition=partition
        )
        return future

    async def release(self) -> None:
        """Sign the batch's audit entries (one signature per tree of entries), make the keys
        created since the last release durable, then send what was held, in order.

        If the key store fails, nothing held is sent: the batch is abandoned and read again.
        """
        held, self._held = self._held, []
        released, self._released = self._released, None
        self._sign_audit([h for h in held if h.audit])
        if self.key_store is not None:  # even with nothing held: the changelog comes next
            self.key_store.flush()
        sent = await self._send_batches(held)
        if released is not None:
            asyncio.gather(*sent).add_done_callback(partial(_settle_from, released))

    async def _send_batches(self, records: Sequence[_Held]) -> Futures:
        """Send ``records`` as one producer batch per partition (``send_batch``), in their
        order within each partition; the futures of the batches.

        Keyed records go where ``send()`` would put them: the producer's default partitioner
        (murmur2 of the key over the sorted partitions, Kafka's). A record too large for a
        batch of its own is sent alone.
        """
        by_partition: dict[tuple[str, int], list[_Held]] = {}
        known: dict[str, tuple[int, ...]] = {}
        for record in records:
            partition = record.partition
            if partition is None:
                if record.topic not in known:
                    known[record.topic] = tuple(
                        sorted(await self.producer.partitions_for(record.topic))
                    )
                partition = _partition_of(record.key, known[record.topic])
            by_partition.setdefault((record.topic, partition), []).append(record)
        futures: Futures = []
        for (topic, partition), members in by_partition.items():
            builder, filled = self.producer.create_batch(), False
            for record in members:
                if not _append(builder, record):
                    if filled:  # full: send it, start the next one with this record
                        futures.append(
                            await self.producer.send_batch(builder, topic, partition=partition)
                        )
                        builder, filled = self.producer.create_batch(), False
                    if not _append(builder, record):  # larger than a batch: alone
                        futures.append(
                            await self.producer.send(
                                topic,
                                record.value,
                                key=record.key,
                                partition=partition,
                                headers=record.headers or None,
                            )
                        )
                        continue
                filled = True
            if filled:
                futures.append(await self.producer.send_batch(builder, topic, partition=partition))
        return futures

    def _sign_audit(self, entries: Sequence[_Held]) -> None:
        """Give audit records their batch signature (``hub.trust.batch_signing``): always for
        ``nrm.audit``, the topic they are chained and verified for."""
        if self.signer is None or not entries:
            return
        signed = sign_batch(self.signer, AUDIT.name, [(e.key, e.value) for e in entries])
        for entry, headers in zip(entries, signed, strict=True):
            entry.headers = headers

    async def deliver(self, case_id: UUID, delivery: Deliver) -> asyncio.Future[object]:
        """Write one projection to its recipient's inbox, keyed by case."""
        value = self.codec.encode(delivery.subject, delivery.record)
        return await self._send(
            inbox_topic(delivery.recipient.id), value, str(case_id).encode(), delivery.headers
        )

    async def publish(self, case_id: UUID, record: Publish) -> asyncio.Future[object]:
        """Write a record to one of the hub's own topics (escalations, orphaned needs)."""
        value = self.codec.encode(record.subject, record.record)
        return await self._send(record.topic, value, str(case_id).encode())

    async def dead_letter(self, letter: DeadLetter) -> asyncio.Future[object]:
        """Write a dead letter (keyed by case when known), its original sealed under the case
        key (``hub.flow.sealed_letters``). One that cannot be encoded (the original too large
        even once cut) is written without the original bytes, never dropped and never allowed
        to stop the stream."""
        key = str(letter.case_id).encode() if letter.case_id else None
        if letter.case_id is not None:
            if self.key_store is None:
                raise RuntimeError("a dead letter of a known case needs a key store to seal it")
            letter = seal_letter(letter, self.key_store)
        try:
            value = self.codec.encode_event(letter)
        except CodecError as exc:
            log.error("dead_letter.unencodable", reason=exc.reason.value, detail=exc.detail)
            value = self.codec.encode_event(
                letter.model_copy(
                    update={
                        "original": b"",
                        "original_key": None,
                        "original_headers": (),
                        "detail": f"{letter.detail[:1500]} (original not kept: {exc.reason.value})",
                    }
                )
            )
        return await self._send(DEAD_LETTERS.name, value, key)

    async def audit(
        self,
        state: CaseState,
        notes: Sequence[AuditNote],
        *,
        recorded_at: datetime,
        event_id: UUID | None,
        sender: str,
        sender_role: AgencyRole,
    ) -> tuple[CaseState, Futures]:
        """Chain ``notes`` onto the case's audit log; return the new state and the futures.

        The first note of an inbound event is the sender's act (RECEIVED); the others are the
        hub's decisions. Personal data of an erased case is never written again.
        """
        head = state.audit_head
        key = str(state.case_id).encode()
        records: list[_Held] = []
        for index, note in enumerate(notes):
            actor, role = (sender, sender_role) if index == 0 else (HUB_ACTOR, AgencyRole.HUB)
            if note.actor is not None:  # an operator's act (erasure request, approval)
                actor, role = note.actor, AgencyRole.HUB
            try:
                entry, head = self._entry(
                    head, state, note, note.payload, recorded_at, event_id, actor, role
                )
            except KeyDestroyedError:
                entry, head = self._entry(
                    head, state, note, None, recorded_at, event_id, actor, role
                )
            value = self.codec.encode_event(entry)
            records.append(_Held(AUDIT.name, value, key, None, [], audit=True))
        if self.hold:  # signed with the whole batch at release
            futures = [self._hold(record) for record in records]
        else:
            futures = await self._send_now(records)
        return state.model_copy(update={"audit_head": head}), futures

    async def _send_now(self, records: Sequence[_Held]) -> Futures:
        self._sign_audit(records)
        if self.key_store is not None:
            self.key_store.flush()
        return [
            await self.producer.send(r.topic, r.value, key=r.key, headers=r.headers or None)
            for r in records
        ]

    def destroy_key(self, case_id: UUID) -> bool:
        """Destroy the case's audit key (erasure); True when there was one to destroy."""
        if self.key_store is None:
            raise RuntimeError("an outbox writer without a key store cannot erase a case")
        destroyed = self.key_store.destroy(case_id)
        log.info("audit.erased", case_id=str(case_id), key_destroyed=destroyed)
        return destroyed

    def _entry(
        self,
        head: ChainHead | None,
        state: CaseState,
        note: AuditNote,
        payload: dict[str, dict[str, object]] | None,
        recorded_at: datetime,
        event_id: UUID | None,
        actor: str,
        role: AgencyRole,
    ) -> tuple[AuditEntry, ChainHead]:
        if self.key_store is None:
            raise RuntimeError("an outbox writer without a key store writes no audit entries")
        return next_entry(
            head,
            case_id=state.case_id,
            recorded_at=recorded_at,
            actor=actor,
            actor_role=role,
            event_id=event_id,
            action=note.action,
            decision=note.decision,
            reason=note.reason,
            legal_basis=note.legal_basis,
            recipient=note.recipient,
            categories=note.categories,
            payload=payload,
            lawful_bases=note.lawful_bases,
            key_store=self.key_store,
        )


def _partition_of(key: bytes | None, partitions: tuple[int, ...]) -> int:
    """Where the default partitioner puts ``key`` (any partition for no key)."""
    if key is None:
        return int(_PARTITIONER(None, list(partitions), list(partitions)))
    return _keyed_partition(key, partitions)


@lru_cache(maxsize=65_536)
def _keyed_partition(key: bytes, partitions: tuple[int, ...]) -> int:
    # aiokafka's murmur2 is pure Python (~10 µs): a case's records of a batch share one key.
    return int(_PARTITIONER(key, list(partitions), list(partitions)))


def _append(builder: BatchBuilder, record: _Held) -> bool:
    """Add ``record`` to ``builder``; False when the batch is full."""
    return (
        builder.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
        is not None
    )


def _settle_from(target: asyncio.Future[object], sent: asyncio.Future[object]) -> None:
    """Give the held writes' future the outcome of the real sends (None once acknowledged)."""
    if target.done():
        return
    if sent.cancelled():
        target.cancel()
    elif (error := sent.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(None)


async def append_entries(
    settings: HubSettings,
    codec: Codec,
    entries: Iterable[AuditEntry],
    *,
    topic: str = AUDIT.name,
    signer: RecordSigner | None = None,
) -> list[tuple[int, int]]:
    """Append entries to the audit topic keyed by case id, signed by the hub; their
    (partition, offset).

    For tools (tests, benchmarks): the routing worker writes its entries
    through its own outbox, as the single writer of each case's chain. ``signer`` defaults to
    the hub's key from ``settings``; entries are signed for ``nrm.audit`` whatever ``topic``
    holds them (a copy of the log verifies as the log does).
    """
    signer = signer or HubSigner.from_pem(settings.signing_key_path, settings.signing_key_id)
    producer = clients.producer(settings, linger_ms=5)
    await producer.start()
    try:
        records = [(str(e.case_id).encode(), codec.encode_event(e)) for e in entries]
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for (key, value), headers in zip(
                records, sign_batch(signer, AUDIT.name, records), strict=True
            )
        ]
        sent = await asyncio.gather(*futures)
    except KafkaError as exc:
        raise AuditLogUnavailable(f"cannot write {topic}: {exc}") from exc
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in sent]
