"""The case state's own copy (``_Value.model_copy``, issue 24): the same value as pydantic's
copy, for every kind of update the flow makes, and stricter where pydantic's is silent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from hub.contracts.enums import AgencyRole, DataCategory, PermitType
from hub.flow.case_state import (
    CaseFacts,
    CaseState,
    Pathway,
    Received,
    Safety,
)
from hub.rules.lifecycle import CaseStatus

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CASE = CaseState(case_id=uuid.UUID(int=7), status=CaseStatus.UNDER_IDENTIFICATION, seen=b"")
RECEIVED = Received(
    recipient="prefecture-93",
    role=AgencyRole.PREFECTURE,
    subject="fr.nrm.PermitRequested",
    event_id=uuid.UUID(int=9),
    categories=frozenset({DataCategory.IDENTITY}),
    at=AT,
)

COPIES: list[tuple[BaseModel, dict[str, Any]]] = [
    (CASE, {}),
    (CASE, {"seen": b"\x01" * 57, "last_contact_at": AT}),
    (CASE, {"status": CaseStatus.CLOSED, "holds": (), "requests": (), "deadlines": ()}),
    (CASE, {"facts": CaseFacts(departement="93", minor=True)}),
    (CASE, {"safety": Safety(do_not_contact=True), "received": (RECEIVED,)}),
    (CASE, {"pathway": Pathway(chosen_permits=frozenset({PermitType.RESIDENCE_PERMIT_WITNESS}))}),
    (Pathway(), {"raised": frozenset({"permit:REFLECTION_PERIOD_RECEIPT"})}),
    (RECEIVED, {"categories": frozenset(DataCategory), "consented": None}),
]


@pytest.mark.parametrize(("value", "update"), COPIES)
def test_a_copy_is_the_value_pydantic_copies(value: BaseModel, update: dict[str, Any]) -> None:
    ours = value.model_copy(update=update)
    theirs = BaseModel.model_copy(value, update=update)
    assert ours == theirs
    assert type(ours) is type(value)
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.__pydantic_extra__ is None
    assert ours.__pydantic_private__ is None
    assert hash(ours) == hash(theirs)


@pytest.mark.parametrize(("value", "update"), COPIES)
def test_a_copy_leaves_the_original_as_it_was(value: BaseModel, update: dict[str, Any]) -> None:
    before = value.model_dump_json()
    fields_set = set(value.model_fields_set)
    value.model_copy(update=update)
    assert value.model_dump_json() == before
    assert value.model_fields_set == fields_set


@pytest.mark.parametrize(
    ("value", "name"),
    [(CASE, "stauts"), (CASE, "holds_json"), (Pathway(), "chosen"), (RECEIVED, "recipients")],
)
def test_a_copy_refuses_a_name_that_is_no_field(value: BaseModel, name: str) -> None:
    # pydantic's own copy would slip it into the copy's __dict__, where nothing reads it.
    with pytest.raises(ValueError, match=name):
        value.model_copy(update={name: 1})


def test_a_copy_stays_frozen() -> None:
    copied = CASE.model_copy(update={"status": CaseStatus.CLOSED})
    with pytest.raises(ValidationError):
        copied.status = CaseStatus.NEW  # type: ignore[misc]


def test_a_deep_copy_is_still_pydantic_s() -> None:
    copied = CASE.model_copy(update={"received": (RECEIVED,)}, deep=True)
    assert copied == CASE.model_copy(update={"received": (RECEIVED,)})
