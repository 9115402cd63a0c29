"""A small English detector for what operators read (issue 22: French for operator screens).

It looks for typer's and click's own words ("Usage", "Missing", "Try", "Show this message and
exit") and common English function words. ``on``, ``a``, ``as``, ``file`` and ``message``
are French words too and are left out. Paths, options (``--help``) and the ``syntax`` given
(command names, choice values: what the operator types) are set aside first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ENGLISH = re.compile(
    r"\b(the|of|to|for|and|is|are|this|that|with|not|such|no|or|missing|invalid|value|values|"
    r"error|usage|try|required|default|exit|aborted|did|you|mean|possible|choose|from|"
    r"got|unexpected|extra|requires|does|exist|directory|current|install|copy|customize|"
    r"integer|str|int|bool|float|text|range|env|var|commands|command|parameter|unknown|none|"
    r"takes|help|show|unable|cannot|failed|refused|denied|found)\b",
    re.IGNORECASE,
)


def english_left(screen: str, syntax: Iterable[str] = ()) -> list[str]:
    """English words on ``screen``, once options and ``syntax`` words are set aside."""
    screen = re.sub(r"\S*/\S*", " ", screen)  # paths and addresses are values
    screen = re.sub(r"--?[\w-]+", " ", screen)
    for word in sorted(syntax, key=len, reverse=True):
        screen = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", screen)
    return sorted({m.group(0).lower() for m in ENGLISH.finditer(screen)})
