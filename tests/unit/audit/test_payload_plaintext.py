"""A payload's plaintext, the bytes its ciphertext seals: the same compact, sorted JSON as
``json.dumps`` with the options it was first written with, for any payload."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hub.audit.keys import canonical_payload

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.dates()  # not JSON: written as their str()
    | st.datetimes()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(), st.dictionaries(st.text(), values, max_size=6), max_size=5)


@hypothesis_settings(max_examples=300, deadline=None)
@given(payloads)
def test_the_plaintext_is_the_json_first_written(payload: dict[str, Any]) -> None:
    expected = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()
    assert canonical_payload(payload) == expected
