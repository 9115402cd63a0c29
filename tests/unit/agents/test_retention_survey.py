"""What ``hub retention run`` finds in the case states before it sends anything: due cases
oldest contact first, held cases with their holds, nothing for a case in recent contact, an
erased one, or one with no contact known."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.retention_job import DueCase, HeldCase, survey
from hub.flow.case_state import CaseState, Restriction
from hub.rules.holds import HoldPolicy
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import get_settings

CONFIG = get_settings().config_dir
SCHEDULE = RetentionSchedule.load(CONFIG)
HOLDS = HoldPolicy.load(CONFIG)
NOW = datetime(2029, 1, 10, 9, 0, tzinfo=UTC)
PERIOD = SCHEDULE.personal_data_of_cases.period


def case(contact: datetime | None, **extra: Any) -> CaseState:
    return CaseState(case_id=uuid.uuid4(), last_contact_at=contact, **extra)


def test_the_survey_sorts_due_cases_and_names_the_holds_of_the_held_ones() -> None:
    older = case(NOW - PERIOD - timedelta(days=30))
    old = case(NOW - PERIOD)
    recent = case(NOW - PERIOD + timedelta(seconds=1))
    unknown = case(None)
    erased = case(NOW - PERIOD * 2, erased_at=NOW - PERIOD)
    restriction = Restriction(request_id=uuid.uuid4(), holds=("STATUTORY_ARCHIVE",), since=NOW)
    held = case(NOW - PERIOD * 2, restricted=restriction)
    due, kept = survey([old, recent, unknown, erased, held, older], NOW, SCHEDULE, HOLDS)
    assert due == [
        DueCase(older.case_id, NOW - PERIOD - timedelta(days=30)),
        DueCase(old.case_id, NOW - PERIOD),
    ]
    assert kept == [HeldCase(held.case_id, NOW - PERIOD * 2, ("STATUTORY_ARCHIVE",))]
