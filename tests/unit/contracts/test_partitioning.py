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


CASES = [uuid.UUID(int=n * 0x9E3779B97F4A7C15) for n in range(1, 9)]


def test_a_remembered_case_is_placed_for_each_partition_count_asked() -> None:
    # The same cases asked again and again, under counts that place them differently: the
    # cache answers for the case and the count together, never a count asked before.
    for _round in range(3):
        for partitions in (1, 3, 4, 7, 12, 4):
            for case_id in CASES:
                expected = (aiokafka_murmur2(str(case_id).encode()) & 0x7FFFFFFF) % partitions
                assert case_partition(case_id, partitions) == expected


@given(st.binary(min_size=0, max_size=80))
def test_murmur2_of_every_tail_length_matches_the_byte_by_byte_reading(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF
