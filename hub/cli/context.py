"""What every ``hub`` command shares: the invocation's settings, the consoles, the exit codes.

Command groups outside ``hub/`` (the worker's, the edges') import these from here, never from
``hub.cli.app``, which mounts them: the app can then load them without an import loop.
"""

from __future__ import annotations

import typer
from rich.console import Console

from hub.runtime.settings import HubSettings, get_settings

BAD_INPUT = 2
CHECK_FAILED = 1

out = Console()
err = Console(stderr=True)


def current_settings() -> HubSettings:
    """The settings a caller passed as the context object (tests, embedding), else the
    process-wide ones from the environment."""
    # typer (pinned) vendors click: its context stack is typer's own, not click's.
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    while context is not None:
        if isinstance(context.obj, HubSettings):
            return context.obj
        context = context.parent
    return get_settings()


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
