"""What the page accepts from its forms: a ``WitnessReport`` (without its envelope yet) or an
addition, or the list of what is wrong (keys of ``texts.TEXTS``). Plain functions over the
submitted fields, tested by tables (tests/unit/connectors/test_public_report_form.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.public_report.config import PublicReportSettings
from connectors.public_report.texts import lang_of
from hub.contracts.enums import ExploitationType, Urgency
from hub.contracts.envelope import Envelope
from hub.contracts.witness import WitnessReport

PLACEHOLDER_CASE = uuid.UUID(int=0)
"""The envelope of a report not yet sent; ``Intake.report`` gives it its case."""


@dataclass(frozen=True)
class Refused:
    """What is wrong with a submission (keys of ``TEXTS``)."""

    errors: tuple[str, ...]


@dataclass(frozen=True)
class Addition:
    """What a reporter adds with their reference."""

    text: str | None
    contact: str | None


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _types(form: Mapping[str, Any]) -> tuple[ExploitationType, ...]:
    """The forms ticked, those of the grid only (``forme_*`` checkboxes)."""
    known = {t.value for t in ExploitationType} - {ExploitationType.UNKNOWN.value}
    return tuple(
        ExploitationType(name.removeprefix("forme_"))
        for name in sorted(form)
        if name.startswith("forme_") and name.removeprefix("forme_") in known
    )


def report_from(
    form: Mapping[str, Any], departements: Mapping[str, str], limits: PublicReportSettings
) -> WitnessReport | Refused:
    """The report the form describes, or why it is refused."""
    seen, place = _text(form, "vu"), _text(form, "lieu")
    name, contact = _text(form, "nom"), _text(form, "contact")
    departement, danger = _text(form, "departement"), _text(form, "danger")
    anonymous = form.get("anonyme") == "oui"
    errors: list[str] = []
    if danger not in ("oui", "non"):
        errors.append("err_danger")
    if seen is None:
        errors.append("err_seen")
    if departement not in departements:
        errors.append("err_departement")
    if (seen and len(seen) > limits.max_text_chars) or any(
        v is not None and len(v) > limits.max_short_chars for v in (place, name, contact)
    ):
        errors.append("err_long")
    if anonymous and (name or contact):
        errors.append("err_contact_anonymous")
    if errors:
        return Refused(tuple(errors))
    assert departement is not None
    immediate = danger == "oui"
    return WitnessReport(
        envelope=Envelope(
            event_id=uuid.uuid4(), case_id=PLACEHOLDER_CASE, occurred_at=datetime.now(UTC)
        ),
        departement=departement,
        urgency=Urgency.IMMEDIATE_DANGER if immediate else Urgency.UNKNOWN,
        immediate_danger=immediate,
        minor_suspected=form.get("mineur") == "oui",
        exploitation_types=_types(form),
        language=lang_of(_text(form, "langue")),
        anonymous=anonymous or not (name or contact),
        what_was_seen=seen,
        place=place,
        reporter_name=name,
        reporter_contact=contact,
    )


def addition_from(form: Mapping[str, Any], limits: PublicReportSettings) -> Addition | Refused:
    """What the reporter adds, or why it is refused."""
    text, contact = _text(form, "complement"), _text(form, "contact")
    if text is None and contact is None:
        return Refused(("err_seen",))
    if (text and len(text) > limits.max_text_chars) or (
        contact and len(contact) > limits.max_short_chars
    ):
        return Refused(("err_long",))
    return Addition(text, contact)
