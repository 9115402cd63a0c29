"""Rule sets whose indexes are derived from their fields once, and forgotten by their copies.

The routing rules, the lifecycle and the deadline policy index their rules on first use, in
``functools.cached_property`` values (a pydantic private attribute is slow to read on the hot
path). Those values live in the instance's ``__dict__``, which pydantic's ``model_copy``
copies: a copy made with other rules would answer from the original's index. A copy of a
``DerivedOnce`` model forgets them and derives its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, cached_property
from typing import Any, Self

from pydantic import BaseModel


class DerivedOnce(BaseModel):
    """A pydantic model whose cached properties are derived from its fields."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update`` applied, that derives its cached properties again."""
        copied = super().model_copy(update=update, deep=deep)
        for name in _cached_properties(type(self)):
            copied.__dict__.pop(name, None)
        return copied


@cache
def _cached_properties(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        name
        for klass in model.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, cached_property)
    )
