"""The case page says when a case is erased, restricted (with its holds) or awaits approval."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from connectors.dashboard.pages.cases import erasure_status
from hub.flow.case_state import CaseState, PendingErasure, Restriction

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_an_ordinary_case_says_nothing_of_erasure() -> None:
    assert erasure_status(CaseState(case_id=uuid.uuid4())) == {
        "erased_text": None,
        "restricted": None,
        "pending_erasures": [],
    }
    assert erasure_status(None)["restricted"] is None


def test_a_restricted_case_names_its_holds_and_a_pending_request_its_requester() -> None:
    request_id = uuid.uuid4()
    state = CaseState(
        case_id=uuid.uuid4(),
        restricted=Restriction(request_id=request_id, holds=("PENDING_PERMIT_DECISION",), since=AT),
        erasure_requests=(
            PendingErasure(
                request_id=request_id, requested_by="operatrice.demo", reason="r", requested_at=AT
            ),
        ),
    )
    status = erasure_status(state)
    assert status["restricted"]["holds"] == ["PENDING_PERMIT_DECISION"]
    assert "2026" in status["restricted"]["since_text"]
    assert status["pending_erasures"] == [
        {"request_id": str(request_id), "requested_by": "operatrice.demo"}
    ]


def test_an_erased_case_says_when() -> None:
    status = erasure_status(CaseState(case_id=uuid.uuid4(), erased_at=AT))
    assert status["erased_text"] is not None
    assert "nov." in status["erased_text"]
