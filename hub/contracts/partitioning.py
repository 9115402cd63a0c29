"""Which partition a case's records land on: Kafka's default partitioner, as a contract.

Every Kafka client in every language places a keyed record on
``murmur2(key) & 0x7fffffff % partitions``; the hub keys records by case id, so any state
partitioned by case id is found on the partition its records are on, whoever wrote them.
"""

from __future__ import annotations

import uuid

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` (as ``org.apache.kafka.common.utils.Utils.murmur2``)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & ~3
    extra = length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def case_partition(case_id: uuid.UUID, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by ``case_id``."""
    return (murmur2(str(case_id).encode()) & 0x7FFFFFFF) % partitions
