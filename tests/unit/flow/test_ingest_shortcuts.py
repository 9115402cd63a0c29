"""The shortcuts of ingest's hot path decide exactly what the full path decides.

Ingest skips work it can prove useless (the indicator check of an event type that has no code
field, a case's partition worked out again): each test here fails if a shortcut ever lets
through what the full path refuses, or refuses what it accepts.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from hub.contracts.erasure_events import (
    ErasureApproved,
    ErasureRejected,
    ErasureRequested,
    RestrictionLifted,
    RetentionExpiry,
)
from hub.contracts.events import EVENT_MODELS, ExploitationDetails, ReferralOpened
from hub.contracts.examples import example_events
from hub.rules.indicators import CODE_FIELDS, IndicatorGrid, check_event, may_carry_codes
from hub.runtime.settings import get_settings

GRID = IndicatorGrid.load(get_settings().config_dir)
MODELS = sorted(
    {
        *EVENT_MODELS.values(),
        ErasureRequested,
        ErasureApproved,
        ErasureRejected,
        RetentionExpiry,
        RestrictionLifted,
    },
    key=lambda m: m.__name__,
)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_an_event_type_whose_codes_could_be_checked_is_never_skipped(
    model: type[BaseModel],
) -> None:
    # check_event reads CODE_FIELDS; a type with a field of another name about indicators or
    # forms of exploitation would be skipped by the shortcut: rename it into CODE_FIELDS.
    about_codes = [n for n in model.model_fields if "indicator" in n or "exploitation" in n]
    assert may_carry_codes(model) is bool(about_codes)
    assert set(about_codes) <= set(CODE_FIELDS)


EXAMPLES = [event for _sender, event in example_events()]


@pytest.mark.parametrize("event", EXAMPLES, ids=[type(e).__name__ for e in EXAMPLES])
def test_a_skipped_event_is_one_the_grid_check_passes(
    event: BaseModel,
) -> None:
    if not may_carry_codes(type(event)):
        assert check_event(GRID, event) is None


REFERRAL = next(e for e in EXAMPLES if isinstance(e, ReferralOpened))
CARRYING = [
    ("top-level code", REFERRAL.model_copy(update={"indicator_codes": ("TRAV-01",)})),
    (
        "code in the exploitation details",
        REFERRAL.model_copy(
            update={"exploitation": ExploitationDetails(indicator_codes=("passeport retenu",))}
        ),
    ),
]


@pytest.mark.parametrize("event", [e for _n, e in CARRYING], ids=[n for n, _e in CARRYING])
def test_an_event_carrying_an_unknown_code_is_still_checked(event: BaseModel) -> None:
    assert may_carry_codes(type(event))
    assert check_event(GRID, event) is not None
