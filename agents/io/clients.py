"""The one place that builds aiokafka producers, consumers and raw clients from the settings.

Each preset names one way the hub talks to the broker and keeps that use's exact options; an
option left at None is not passed, so aiokafka's default applies. Connection options (servers,
TLS, SASL) always come from ``hub.runtime.kafka_options.client_options``.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from hub.runtime.kafka_options import client_options, consumer_group_options
from hub.runtime.settings import HubSettings


def _given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


def producer(
    settings: HubSettings,
    *,
    linger_ms: int | None = None,
    request_timeout_ms: int | None = None,
    retry_backoff_ms: int | None = None,
) -> AIOKafkaProducer:
    """A producer whose sends are acknowledged by every in-sync replica (``acks=all``)."""
    return AIOKafkaProducer(
        acks="all",
        **_given(
            linger_ms=linger_ms,
            request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms,
        ),
        **client_options(settings),
    )


def routing_consumer(
    settings: HubSettings, *, group_id: str, max_poll_records: int
) -> AIOKafkaConsumer:
    """The routing worker's group member: it subscribes to every agency outbox itself.

    Range assignment keeps partition p of every outbox on one member, with partition p of the
    case-state changelog; metadata is refreshed every 5 s so new agencies' outboxes are seen.
    """
    return AIOKafkaConsumer(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        metadata_max_age_ms=5000,
        max_poll_records=max_poll_records,
        **client_options(settings),
        **consumer_group_options(settings),
    )


def group_consumer(settings: HubSettings, topic: str, *, group_id: str) -> AIOKafkaConsumer:
    """A group member reading ``topic`` from its start, committing offsets itself."""
    return AIOKafkaConsumer(
        topic,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(settings),
        **consumer_group_options(settings),
    )


def assigned_consumer(
    settings: HubSettings,
    *,
    group_id: str | None = None,
    auto_offset_reset: str | None = None,
    fetch_max_wait_ms: int | None = None,
    max_partition_fetch_bytes: int | None = None,
    request_timeout_ms: int | None = None,
) -> AIOKafkaConsumer:
    """A consumer that assigns itself partitions and never commits (no group is joined; a
    ``group_id`` is only for reading that group's committed offsets)."""
    return AIOKafkaConsumer(
        enable_auto_commit=False,
        **_given(
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
            request_timeout_ms=request_timeout_ms,
        ),
        **client_options(settings),
    )


def raw_client(settings: HubSettings, *, request_timeout_ms: int | None = None) -> AIOKafkaClient:
    """A bare client for requests the consumer does not make (direct Fetch, metadata probes)."""
    return AIOKafkaClient(
        **_given(request_timeout_ms=request_timeout_ms), **client_options(settings)
    )
