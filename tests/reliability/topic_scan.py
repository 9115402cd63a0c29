"""Read whole topics with a plain consumer (no group): what is really on the broker.

Clients de-duplicate by event id; these counts show what they had to absorb (duplicate
records under at-least-once) and what the hub wrote (dead letters by source offset).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord

from hub.contracts.codec import Codec

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def event_ids(records: Iterable[Record], codec: Codec) -> Counter[tuple[str, uuid.UUID]]:
    """How many records of each (topic, envelope event id)."""
    counts: Counter[tuple[str, uuid.UUID]] = Counter()
    for record in records:
        event = codec.decode_event(record.value or b"")
        envelope = getattr(event, "envelope", None)
        if envelope is not None:
            counts[(record.topic, envelope.event_id)] += 1
    return counts


def duplicate_records(counts: Counter[tuple[str, uuid.UUID]]) -> int:
    """Records beyond the first of each (topic, event id): what clients must drop."""
    return sum(n - 1 for n in counts.values() if n > 1)
