"""The ``hub`` command line: the hub's own command groups, and those of the worker and the
edges, mounted from the ``nrm_hub.commands`` entry points.

``hub/`` never imports ``agents/`` or ``connectors/``: they declare their command groups in
pyproject.toml (``[project.entry-points."nrm_hub.commands"]``), each a ``register(app)``
function, and this module loads them by name. Bad input gets a clear message on stderr and a
non-zero exit: 1 when a check fails, 2 when the input itself is invalid (``hub/cli/context.py``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Annotated

import typer

from hub.cli.acls import acls_app
from hub.cli.broker import broker, topics_app
from hub.cli.context import OperatorGroup, current_settings, err
from hub.cli.keys import keys_app
from hub.cli.schemas import decode, encode, schemas_app
from hub.runtime.logs import configure_logging

COMMAND_GROUPS = "nrm_hub.commands"
"""The entry-point group whose ``register(app)`` functions add commands to ``hub``."""

app = typer.Typer(
    cls=OperatorGroup,
    no_args_is_help=True,
    help="NRM Hub : les orientations de victimes présumées de traite entre organismes.",
)
app.command()(broker)
app.command()(decode)
app.command()(encode)
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(keys_app, name="keys")
app.add_typer(acls_app, name="acls")


@app.callback()
def main_options(
    ctx: typer.Context,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Journaux en lignes JSON (comme HUB_LOG_JSON=true).")
    ] = False,
) -> None:
    """Configure logging once for every command.

    ``--log-json`` becomes part of the settings every command reads (``current_settings``):
    a server that configures logging again (the gateway, the dashboard, the worker) keeps it.
    """
    settings = current_settings()
    if log_json and not settings.log_json:
        settings = settings.model_copy(update={"log_json": True})
        ctx.obj = settings
    configure_logging(json=settings.log_json, level=settings.log_level)


def mount_command_groups(target: typer.Typer) -> None:
    """Add every installed ``nrm_hub.commands`` group to ``target``.

    A group that cannot be loaded is named in one line on stderr and left out, so the other
    commands still work and the operator sees which installation is broken.
    """
    for entry in entry_points(group=COMMAND_GROUPS):
        try:
            register = entry.load()
            register(target)
        # Any error of a plugin (missing module, bad dependency, bug at import) is reported
        # the same way: a traceback here would hide every other command.
        except Exception as exc:
            err.print(
                f"[bold red]erreur :[/] impossible de charger les commandes {entry.name!r} "
                f"({entry.value}) : {type(exc).__name__}: {exc}",
                highlight=False,
                soft_wrap=True,
            )


mount_command_groups(app)


def main() -> None:
    """Entry point of the ``hub`` script."""
    app()
