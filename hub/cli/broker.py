"""``hub broker`` and ``hub topics``: the embedded broker and the hub's declared topics."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Annotated

import typer

from hub.cli.context import CHECK_FAILED, current_settings, fail, out

topics_app = typer.Typer(no_args_is_help=True, help="Declare and create the hub's topics.")


def broker(
    port: Annotated[int, typer.Option(help="Loopback port to listen on.")] = 9092,
    storage: Annotated[str, typer.Option(help="memory://tansu/ or s3://BUCKET/")] = (
        "memory://tansu/"
    ),
) -> None:
    """Run the embedded broker in the foreground on 127.0.0.1 until interrupted."""
    from hub.runtime.broker import BrokerStartError, EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with EmbeddedBroker(port, storage_url=storage) as running:
            out.print(
                f"broker on [bold]{running.bootstrap_servers}[/] (pid {running.pid}); "
                "Ctrl-C stops it"
            )
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except BrokerStartError as exc:
        raise fail(str(exc), CHECK_FAILED) from None


@topics_app.command("list")
def topics_list(
    agency: Annotated[list[str] | None, typer.Option(help="Agency id (repeatable).")] = None,
) -> None:
    """Print the declared topics."""
    from hub.contracts.topics import all_topics

    for spec in all_topics(agency or []):
        out.print(f"{spec.name:40} {spec.partitions:3}  {spec.purpose}", highlight=False)


@topics_app.command("create")
def topics_create(
    agency: Annotated[list[str] | None, typer.Option(help="Agency id (repeatable).")] = None,
    from_directory: Annotated[
        bool, typer.Option("--from-directory", help="Also every agency of the directory.")
    ] = False,
    replication_factor: Annotated[int, typer.Option()] = 1,
) -> None:
    """Create the declared topics that do not exist yet on HUB_BOOTSTRAP_SERVERS."""
    from hub.contracts.topics import all_topics
    from hub.rules.directory import Directory
    from hub.runtime.topic_admin import create_topics

    settings = current_settings()
    agencies = list(agency or [])
    if from_directory:
        agencies += [a.id for a in Directory.load(settings.config_dir) if a.id not in agencies]
    created = asyncio.run(
        create_topics(settings, all_topics(agencies), replication_factor=replication_factor)
    )
    out.print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")
