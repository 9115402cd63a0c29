"""``hub prefecture …``: the clerk's commands over the local work queue.

Mounted by ``connectors/commands.py`` (``app.add_typer(prefecture_app, name="prefecture")``).
Bad input (unknown agency or request, malformed request id, unknown answer) prints a clear
message and exits with status 2.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.prefecture.queue import Answer, QueueError, WorkQueue
from connectors.prefecture.subscriber import SubscriberError, answer, sync
from hub.cli.context import current_settings, fail

prefecture_app = typer.Typer(
    no_args_is_help=True,
    help="The prefecture subscriber: permit requests into a local queue, answers back.",
)
out = Console()

DbOption = Annotated[Path, typer.Option("--db", help="The sqlite work queue file.")]


@prefecture_app.command("sync")
def sync_command(
    agency: Annotated[str, typer.Argument(help="The prefecture's agency id, e.g. prefecture-93.")],
    db: DbOption,
    wait: Annotated[
        float, typer.Option("--wait", min=0.1, help="Longest wait for the inbox, in seconds.")
    ] = 10.0,
) -> None:
    """Pull permit requests for the prefecture's départements from its inbox into the queue."""
    try:
        result = asyncio.run(sync(current_settings(), agency, db, wait_s=wait))
    except SubscriberError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"{result.queued} new permit request(s), {result.duplicates} already queued, "
        f"{result.skipped} other message(s) skipped"
    )


@prefecture_app.command("list")
def list_command(db: DbOption) -> None:
    """The permit requests waiting for a decision (state: pending, or receipt issued)."""
    if not db.exists():
        raise fail(f"no work queue at {db} (run `hub prefecture sync` first)")
    with WorkQueue(db) as queue:
        items = queue.pending()
    table = Table("request", "case", "département", "permit", "person", "received", "state")
    for item in items:
        table.add_row(
            str(item.request_id),
            str(item.case_id)[:8],
            item.departement,
            item.permit_type,
            item.person_ref,
            item.received_at[:16],
            item.state,
        )
    out.print(table)
    out.print(f"{len(items)} pending")


@prefecture_app.command("answer")
def answer_command(
    request_id: Annotated[str, typer.Argument(help="The permit request's id.")],
    as_: Annotated[Answer, typer.Option("--as", help="The clerk's answer.")],
    db: DbOption,
    agency: Annotated[str, typer.Option("--agency", help="The prefecture's agency id.")],
) -> None:
    """Answer a permit request and publish the acknowledgement to the hub."""
    try:
        wanted = uuid.UUID(request_id)
    except ValueError:
        raise fail(f"{request_id!r} is not a request id (a UUID)") from None
    if not db.exists():
        raise fail(f"no work queue at {db} (run `hub prefecture sync` first)")
    try:
        event = asyncio.run(answer(current_settings(), agency, db, wanted, as_))
    except (QueueError, SubscriberError) as exc:
        raise fail(str(exc)) from None
    out.print(
        f"published {event.status.value} ({event.detail}) for request {wanted}, "
        f"event {event.envelope.event_id}"
    )
