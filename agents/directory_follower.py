"""Follow the directory topic so routing sees directory changes without a restart.

Every worker reads the whole (single-partition, compacted) directory topic, without a consumer
group, starting from the directory loaded from deploy/config/. Each record yields a new
immutable snapshot; routing reads ``follower.current`` per batch.

A record is applied only when the directory authority signed it
(``hub.trust.directory_authority``): anything else is logged (``directory.refused`` with a
machine ``reason``), counted (``refused``, the metric ``nrm_directory_refused``) and ignored.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.io import clients
from hub.contracts.codec import Codec, CodecError
from hub.contracts.hub_records import (
    DirectoryEntry,
)
from hub.contracts.topics import DIRECTORY
from hub.rules.directory import Directory
from hub.runtime.settings import HubSettings
from hub.trust.directory_authority import (
    DirectoryAuthority,
    DirectoryRefusal,
    SignedDirectory,
    configured_authority,
)

log = structlog.get_logger(__name__)
CATCH_UP_TIMEOUT_S = 60.0


class DirectoryFollower:
    """The current directory snapshot, kept up to date from the directory topic."""

    def __init__(
        self,
        settings: HubSettings,
        codec: Codec,
        initial: Directory,
        authority: DirectoryAuthority | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self._signed = SignedDirectory(initial, authority or configured_authority(settings))
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the topic up to its high watermark, then keep following it in the background."""
        self._consumer = clients.assigned_consumer(self.settings)
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(DIRECTORY.name) or {0}
        tps = [TopicPartition(DIRECTORY.name, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            await self._poll(200)
            caught_up = [
                self._consumer.highwater(tp) is not None
                and await self._consumer.position(tp) >= (self._consumer.highwater(tp) or 0)
                for tp in tps
            ]
            if all(caught_up):
                break
        log.info(
            "directory.ready",
            agencies=len(self.current),
            authority_keys=[k.key_id for k in self._signed.authority.keys],
            refused={str(reason): count for reason, count in self.refused.items()},
        )
        self._task = asyncio.create_task(self._follow())

    @property
    def current(self) -> Directory:
        """The directory snapshot routing uses now."""
        return self._signed.directory

    @property
    def refused(self) -> dict[DirectoryRefusal, int]:
        """Directory records refused since start, by reason."""
        return self._signed.refused

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            await self._poll(1000)

    async def _poll(self, timeout_ms: int) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            for record in records:
                if record.value is None:
                    continue
                try:
                    entry = self.codec.decode_event(record.value)
                except CodecError as exc:
                    log.error(
                        "directory.bad_record",
                        offset=record.offset,
                        reason=exc.reason.value,
                        detail=exc.detail,
                    )
                    continue
                if not isinstance(entry, DirectoryEntry):
                    log.error(
                        "directory.bad_record", offset=record.offset, reason="not a DirectoryEntry"
                    )
                    continue
                decision = self._signed.feed(
                    record.topic, record.key, record.value, record.headers, entry
                )
                if decision.refusal is not None:
                    log.error(
                        "directory.refused",
                        offset=record.offset,
                        agency=entry.agency_id,
                        reason=decision.refusal.value,
                        detail=decision.detail,
                    )
                    continue
                if decision.rotation is not None:
                    log.warning("directory.authority_rotated", detail=decision.detail)
                    continue
                log.info(
                    "directory.changed",
                    agency=entry.agency_id,
                    removed=entry.removed,
                    accepting=entry.accepting,
                )


async def read_signed_directory(settings: HubSettings, codec: Codec) -> SignedDirectory:
    """The directory as a worker starting now would hold it: the configured file, then every
    record of the directory topic the authority proves (``hub directory show``)."""
    from agents.io.reader import read_topics

    signed = SignedDirectory(Directory.load(settings.config_dir), configured_authority(settings))
    for record in await read_topics(settings, [DIRECTORY.name]):
        try:
            entry = codec.decode_event(record.value or b"")
        except CodecError:
            continue
        if isinstance(entry, DirectoryEntry):
            signed.feed(record.topic, record.key, record.value, record.headers, entry)
    return signed
