"""The codec: Confluent framing, committed schema ids, and typed errors for every bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.contracts.codec import HEADER_SIZE, Codec, CodecError, frame_header
from hub.contracts.enums import DeadLetterReason
from hub.contracts.events import subject_of
from hub.contracts.examples import example_events
from hub.contracts.registry import SchemaRegistry

EXAMPLES = [event for _agency, event in example_events()]


@pytest.fixture(scope="module")
def codec(registry: SchemaRegistry) -> Codec:
    return Codec(registry, max_record_bytes=64 * 1024)


@pytest.fixture(scope="module")
def frames(codec: Codec) -> list[bytes]:
    return [codec.encode_event(event) for event in EXAMPLES]


def test_every_example_event_round_trips(codec: Codec) -> None:
    for event in EXAMPLES:
        assert codec.decode_event(codec.encode_event(event)) == event


def test_frame_is_magic_byte_then_committed_schema_id(
    codec: Codec, registry: SchemaRegistry
) -> None:
    for event in EXAMPLES:
        data = codec.encode_event(event)
        assert data[0] == 0
        schema_id = struct.unpack(">I", data[1:5])[0]
        assert schema_id == registry.latest(subject_of(type(event))).schema_id
        assert frame_header(data) == schema_id


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_frame_shorter_than_header_is_corrupt(codec: Codec, data: bytes) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(data)
    assert caught.value.reason is DeadLetterReason.CORRUPT_FRAME


def test_wrong_magic_byte_is_corrupt(codec: Codec, frames: list[bytes]) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(b"\x01" + frames[0][1:])
    assert caught.value.reason is DeadLetterReason.CORRUPT_FRAME
    assert "magic" in caught.value.detail


def test_unknown_schema_id_is_named(codec: Codec, frames: list[bytes]) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(b"\x00" + struct.pack(">I", 999_999) + frames[0][HEADER_SIZE:])
    assert caught.value.reason is DeadLetterReason.UNKNOWN_SCHEMA_ID
    assert caught.value.schema_id == 999_999


def test_truncated_body_is_corrupt(codec: Codec, frames: list[bytes]) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(frames[0][: len(frames[0]) // 2])
    assert caught.value.reason is DeadLetterReason.CORRUPT_FRAME


def test_trailing_bytes_are_corrupt(codec: Codec, frames: list[bytes]) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(frames[0] + b"\x00\x00")
    assert caught.value.reason is DeadLetterReason.CORRUPT_FRAME
    assert "trailing" in caught.value.detail


def test_oversize_is_refused_before_decoding(registry: SchemaRegistry) -> None:
    small = Codec(registry, max_record_bytes=16)
    with pytest.raises(CodecError) as caught:
        small.decode(b"\x00" * 17)
    assert caught.value.reason is DeadLetterReason.OVERSIZE
    with pytest.raises(CodecError) as caught:
        small.encode_event(EXAMPLES[0])
    assert caught.value.reason is DeadLetterReason.OVERSIZE


def test_record_that_does_not_fit_the_schema_is_a_schema_violation(codec: Codec) -> None:
    event = EXAMPLES[0]
    record = event.model_dump()
    record["envelope"] = {**record["envelope"], "event_id": 42}
    with pytest.raises(CodecError) as caught:
        codec.encode(subject_of(type(event)), record)
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION


def test_unknown_subject_cannot_be_encoded(codec: Codec) -> None:
    with pytest.raises(CodecError) as caught:
        codec.encode("fr.nrm.NoSuchEvent", {})
    assert caught.value.reason is DeadLetterReason.UNKNOWN_SCHEMA_ID


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_random_bytes_only_ever_raise_codec_errors(codec: Codec, data: bytes) -> None:
    try:
        codec.decode_event(data)
    except CodecError as exc:
        assert isinstance(exc.reason, DeadLetterReason)
        assert exc.detail


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_frames_decode_or_fail_with_a_reason(
    codec: Codec, frames: list[bytes], data: st.DataObject
) -> None:
    frame = bytearray(data.draw(st.sampled_from(frames)))
    position = data.draw(st.integers(HEADER_SIZE, len(frame) - 1))
    frame[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(HEADER_SIZE, len(frame)))
    try:
        codec.decode_event(bytes(frame[:cut]))
    except CodecError as exc:
        assert exc.reason in {
            DeadLetterReason.CORRUPT_FRAME,
            DeadLetterReason.SCHEMA_VIOLATION,
        }
