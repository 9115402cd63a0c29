"""The shared identification indicator grid (``indicators.yaml``) and the check of an event's
indicator codes against it.

An agency may only send codes of the grid: an unknown (or withdrawn) code is refused with
``UNKNOWN_INDICATOR``; an indicator specific to some forms of exploitation, on an event whose
forms are all known and include none of them, with ``INDICATOR_FORM_MISMATCH``. Both refusals
name the code, so the sender can correct it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from hub.contracts.enums import DeadLetterReason, ExploitationType
from hub.runtime.config_files import load_config

INDICATORS_FILE = "indicators.yaml"
CODE_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"
UNSPECIFIC_FORMS = frozenset({ExploitationType.UNKNOWN, ExploitationType.OTHER})
"""Forms that say nothing definite: an event naming one is never a form mismatch."""


class IndicatorSource(BaseModel):
    """A published list the grid takes indicators from: document, section, public link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    section: str = Field(min_length=1)
    link: str = Field(pattern=r"^https://")
    note: str = ""


class Indicator(BaseModel):
    """One indicator: its code, labels, the forms it is specific to (empty: every form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, max_length=32)
    source: str
    label_fr: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    forms: frozenset[ExploitationType] = frozenset()
    withdrawn: bool = False

    def fits(self, forms: frozenset[ExploitationType]) -> bool:
        """True unless the indicator is form-specific and ``forms`` (all definite) miss it."""
        if not self.forms or not forms or forms & UNSPECIFIC_FORMS:
            return True
        return bool(self.forms & forms)


class IndicatorGrid(BaseModel):
    """The versioned grid, validated from ``indicators.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    effective: date
    sources: Mapping[str, IndicatorSource]
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    _index: tuple[tuple[Indicator, ...], dict[str, Indicator]] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _coherent(self) -> IndicatorGrid:
        codes = [i.code for i in self.indicators]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"codes en double : {', '.join(twice)}")
        unsourced = sorted(i.code for i in self.indicators if i.source not in self.sources)
        if unsourced:
            raise ValueError(f"indicateurs sans source dans sources : {', '.join(unsourced)}")
        for indicator in self.indicators:
            if ExploitationType.UNKNOWN in indicator.forms:
                raise ValueError(f"{indicator.code} : forms ne peut pas contenir UNKNOWN")
        return self

    @classmethod
    def load(cls, config_dir: Path) -> IndicatorGrid:
        """Load and validate ``indicators.yaml``."""
        return load_config(config_dir / INDICATORS_FILE, cls)

    def get(self, code: str) -> Indicator | None:
        """The indicator with this code (withdrawn ones included), or None."""
        if self._index is None or self._index[0] is not self.indicators:
            # Built once per list of indicators (a copy with other indicators rebuilds it).
            self._index = (self.indicators, {i.code: i for i in self.indicators})
        return self._index[1].get(code)

    def usable_codes(self) -> tuple[str, ...]:
        """The codes an agency may send today, in grid order."""
        return tuple(i.code for i in self.indicators if not i.withdrawn)


@dataclass(frozen=True)
class IndicatorRefusal:
    """Why an event's indicator codes are refused: the machine reason and a detail naming the
    code."""

    reason: DeadLetterReason
    detail: str


def check_codes(
    grid: IndicatorGrid, codes: Iterable[str], forms: Iterable[ExploitationType] = ()
) -> IndicatorRefusal | None:
    """The first refusal of ``codes`` against the grid, for an event of ``forms``; None if all
    codes are usable with those forms."""
    known_forms = frozenset(forms)
    for code in dict.fromkeys(codes):  # each distinct code once, in the order sent
        indicator = grid.get(code)
        if indicator is None or indicator.withdrawn:
            state = "withdrawn from" if indicator else "not in"
            return IndicatorRefusal(
                DeadLetterReason.UNKNOWN_INDICATOR,
                f"indicator code {_shown(code)} is {state} the indicator grid "
                f"(version {grid.version}, deploy/config/indicators.yaml)",
            )
        if not indicator.fits(known_forms):
            return IndicatorRefusal(
                DeadLetterReason.INDICATOR_FORM_MISMATCH,
                f"indicator code {code} is specific to "
                f"{', '.join(sorted(f.value for f in indicator.forms))} but the event's forms "
                f"of exploitation are {', '.join(sorted(f.value for f in known_forms))}",
            )
    return None


CODE_FIELDS = ("indicator_codes", "exploitation_types", "exploitation")
"""The fields of an event ``check_event`` reads codes and forms from."""


@cache
def may_carry_codes(model: type[BaseModel]) -> bool:
    """Whether events of ``model`` have a field ``check_event`` reads: an event of a type with
    none has no code to refuse (most events; asking ``check_event`` costs ~3 µs each)."""
    return any(name in model.model_fields for name in CODE_FIELDS)


def check_event(grid: IndicatorGrid, event: BaseModel) -> IndicatorRefusal | None:
    """The refusal of an event's indicator codes, if any.

    Every place an event carries codes is checked: its top-level ``indicator_codes`` and its
    exploitation details' ``indicator_codes``, against the forms it names (its
    ``exploitation_types`` and its details' ``types``, together)."""
    codes = list(_field(event, "indicator_codes") or ())
    forms = list(_field(event, "exploitation_types") or ())
    details = _field(event, "exploitation")
    if isinstance(details, BaseModel):
        codes += _field(details, "indicator_codes") or ()
        forms += _field(details, "types") or ()
    return check_codes(grid, codes, forms)


def _field(model: BaseModel, name: str) -> Any:
    """The field ``name`` of ``model``, None when its type has none: asked of the type's
    fields first, since a failed attribute read of a pydantic model costs ~2 µs (every event
    is checked, most have none of these fields)."""
    return getattr(model, name) if name in type(model).model_fields else None


def _shown(code: str) -> str:
    """The code as the detail shows it: quoted, control characters escaped, cut at 64."""
    return repr(code[:64]) + ("…" if len(code) > 64 else "")
