"""The worker's ``hub`` commands: ``worker``, ``overdue``, ``case``, ``deadletters``, the
audit trail's (``agents/audit_commands.py``), ``directory`` (``agents/directory_commands.py``)
and ``retention`` (``agents/retention_commands.py``).

Mounted by ``hub/cli/app.py`` through the ``nrm_hub.commands`` entry point (pyproject.toml): the
hub's own command line never imports the worker. The worker's modules are imported inside
the commands, so ``hub --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated

import typer

from agents.audit_commands import register_audit_commands
from agents.directory_commands import directory_app
from agents.retention_commands import retention_app
from hub.cli.context import CHECK_FAILED, current_settings, fail, out

case_app = typer.Typer(no_args_is_help=True, help="One case: state, requests, deadlines.")
deadletters_app = typer.Typer(no_args_is_help=True, help="Dead letters: list and re-drive.")


def register(app: typer.Typer) -> None:
    """Add the worker's commands and groups to ``app``."""
    register_audit_commands(app)
    app.command()(worker)
    app.command()(overdue)
    app.add_typer(case_app, name="case")
    app.add_typer(deadletters_app, name="deadletters")
    app.add_typer(directory_app, name="directory")
    app.add_typer(retention_app, name="retention")


def worker() -> None:
    """Run a hub worker (routing) on HUB_BOOTSTRAP_SERVERS until SIGTERM or Ctrl-C."""
    from agents.task_dump import log_task_stacks
    from agents.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, log_task_stacks)
        await run_worker(current_settings(), stop)

    from hub.runtime.config_files import ConfigError
    from hub.trust.agency_keys import KeyFileError
    from hub.trust.directory_authority import AuthorityConfigError

    try:
        asyncio.run(main())
    except (AuthorityConfigError, KeyFileError, ConfigError) as exc:
        # A key or configuration file the worker cannot use: one line, not a traceback.
        raise fail(str(exc)) from None


def overdue(
    agency: Annotated[str | None, typer.Option(help="Only requests to this agency.")] = None,
    role: Annotated[str | None, typer.Option(help="Only requests to this role.")] = None,
    departement: Annotated[str | None, typer.Option(help="Only this département.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Overdue requests: case, recipient, what, due, late by, ladder step."""
    from agents.io.case_store import read_all_states
    from hub.cli.overdue import render_overdue
    from hub.contracts.enums import AgencyRole
    from hub.runtime.clock import clock_from

    settings = current_settings()
    try:
        wanted_role = AgencyRole(role) if role else None
    except ValueError:
        known = ", ".join(r.value for r in AgencyRole)
        raise fail(f"unknown role {role!r}; one of {known}") from None
    states = asyncio.run(read_all_states(settings))
    deadlines = [d for state in states for d in state.open_deadlines()]
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    out.print(
        render_overdue(
            deadlines,
            now,
            agency=agency,
            role=wanted_role,
            departement=departement,
            as_json=as_json,
            width=out.width,
        ),
        highlight=False,
        markup=False,
    )


@case_app.command("show")
def case_show(
    case: Annotated[str, typer.Argument(help="Case id (uuid).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """The case's state, open requests with their deadlines, the reflection period, and who
    holds the next action."""
    import uuid

    from agents.io.case_store import read_case
    from hub.cli.case_view import case_summary, render_case
    from hub.runtime.clock import clock_from

    try:
        case_id = uuid.UUID(case)
    except ValueError:
        raise fail(f"{case!r} is not a case id (a UUID)") from None
    settings = current_settings()
    state = asyncio.run(read_case(settings, case_id))
    if state is None:
        raise fail(f"no case {case_id} in the hub", CHECK_FAILED)
    now = clock_from(settings.clock_start, settings.clock_anchor, settings.clock_speed)()
    if as_json:
        out.print_json(json.dumps(case_summary(state, now)))
    else:
        out.print(render_case(state, now))


@deadletters_app.command("list")
def deadletters_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Dead letters not yet re-driven: id, reason, source, case, detail."""
    from rich.table import Table

    from agents.redrive import list_dead_letters

    letters = asyncio.run(list_dead_letters(current_settings()))
    if reason:
        letters = [d for d in letters if d.reason.value == reason.upper()]
    if as_json:
        rows = [
            d.model_dump(mode="json", exclude={"original", "original_headers", "original_key"})
            for d in letters
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "reason", "source", "case", "detail"):
        table.add_column(column)
    for d in letters:
        table.add_row(
            str(d.dead_letter_id),
            d.reason.value,
            f"{d.source_topic}[{d.source_partition}]@{d.source_offset}",
            str(d.case_id or "-")[:8],
            d.detail[:80],
        )
    out.print(table)


@deadletters_app.command("redrive")
def deadletters_redrive(
    dead_letter_id: Annotated[str, typer.Argument(help="The dead letter's id.")],
) -> None:
    """Re-inject a dead letter after its cause was fixed (the worker handles it again)."""
    import uuid

    from agents.redrive import RedriveError, redrive

    try:
        wanted = uuid.UUID(dead_letter_id)
    except ValueError:
        raise fail(f"{dead_letter_id!r} is not a dead letter id (a UUID)") from None
    try:
        result = asyncio.run(redrive(current_settings(), wanted))
    except RedriveError as exc:
        raise fail(str(exc), CHECK_FAILED) from None
    out.print(f"re-driven {wanted} → nrm.redrive[{result.partition}]@{result.offset}")
