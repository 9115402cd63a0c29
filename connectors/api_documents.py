"""The generated API documents checked in under ``docs/``: one text form, one write-or-check.

``docs/openapi.json`` (the gateway, ``connectors/gateway/openapi.py``) and
``docs/asyncapi.json`` (the topics, ``connectors/asyncapi.py``) are built from the code; a test
fails while either is stale, and each module's command prints, writes or checks its document.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def render(document: Mapping[str, Any]) -> str:
    """The checked-in text: indented JSON, keys in the builder's order, one trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def document_command(
    prog: str,
    path: Path,
    build: Callable[[], Mapping[str, Any]],
    argv: list[str] | None = None,
) -> int:
    """Print the document ``build`` returns, ``--write`` it to ``path``, or ``--check`` that
    ``path`` holds it (exit 1 when stale, naming the command that regenerates it)."""
    parser = argparse.ArgumentParser(prog=prog)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {path}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render(build())
    if args.write:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    elif args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run {prog} --write")
            return 1
    else:
        sys.stdout.write(text)
    return 0
