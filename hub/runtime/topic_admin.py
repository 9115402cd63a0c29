"""Topic administration: create the topics the hub declares (``hub.contracts.topics``) with
the configurations the retention schedule gives them (``hub.runtime.retention``)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from hub.contracts.topics import TopicSpec
from hub.runtime.kafka_options import client_options
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import HubSettings

log = structlog.get_logger(__name__)

TOPIC_ALREADY_EXISTS = 36


async def create_topics(
    settings: HubSettings,
    specs: Sequence[TopicSpec],
    *,
    replication_factor: int = 1,
    schedule: RetentionSchedule | None = None,
) -> list[str]:
    """Create the topics that do not exist yet, configured by the retention schedule
    (default: ``<config_dir>/retention.yaml``); return the names created.

    Idempotent: an existing topic is left as it is (its partition count and configurations
    are not changed).
    """
    schedule = schedule or RetentionSchedule.load(settings.config_dir)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=replication_factor,
                    topic_configs=schedule.topic_configs(spec),
                )
                for spec in missing
            ]
        )
        for name, code, *_ in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise for_code(code)(f"creating topic {name}")
    finally:
        await admin.close()
    created = [spec.name for spec in missing]
    log.info("topics.created", count=len(created))
    return created
