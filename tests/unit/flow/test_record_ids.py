"""Ids read from records: a UUID the record already holds is taken as it is, text is parsed,
and either way the id is the one ``uuid.UUID(str(value))`` gave."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.flow.decisions import as_uuid


@given(st.uuids())
def test_an_id_read_from_a_record_is_the_id_its_text_names(value: uuid.UUID) -> None:
    assert as_uuid(value) == uuid.UUID(str(value))
    assert as_uuid(str(value)) == value
    assert as_uuid(str(value).upper()) == value
    assert isinstance(as_uuid(str(value)), uuid.UUID)


@pytest.mark.parametrize("value", ["", "not-a-uuid", 42, b"0" * 16])
def test_what_is_no_id_is_refused_as_before(value: object) -> None:
    with pytest.raises(ValueError, match="hexadecimal UUID string"):
        uuid.UUID(str(value))
    with pytest.raises(ValueError, match="hexadecimal UUID string"):
        as_uuid(value)
