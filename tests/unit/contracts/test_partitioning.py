"""The hub places a case on the partition any Kafka client would: Kafka's murmur2 partitioner."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from hub.contracts.partitioning import case_partition, murmur2

# Known values of Kafka's Java partitioner (org.apache.kafka.common.utils.Utils.murmur2 on
# "21", "foobar", "a-little-bit-long-string"), as its own test suite lists them.
JAVA_VALUES = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}


def test_murmur2_matches_kafka_java_values() -> None:
    for data, signed in JAVA_VALUES.items():
        assert murmur2(data) == signed & 0xFFFFFFFF


@given(st.binary(max_size=64))
def test_murmur2_matches_aiokafka(data: bytes) -> None:
    assert murmur2(data) & 0x7FFFFFFF == aiokafka_murmur2(data) & 0x7FFFFFFF


@given(st.uuids(), st.integers(min_value=1, max_value=64))
def test_case_partition_is_the_default_partitioners(case_id: uuid.UUID, partitions: int) -> None:
    expected = (aiokafka_murmur2(str(case_id).encode()) & 0x7FFFFFFF) % partitions
    assert case_partition(case_id, partitions) == expected
