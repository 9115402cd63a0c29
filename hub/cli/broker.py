"""``hub broker`` and ``hub topics``: the embedded broker and the hub's declared topics."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from hub.cli.context import CHECK_FAILED, current_settings, fail, out, run_on_broker
from hub.cli.operator_output import emit_json

topics_app = typer.Typer(no_args_is_help=True, help="Les topics du hub : les lister, les créer.")


def broker(
    port: Annotated[
        int, typer.Option(help="Port d'écoute sur 127.0.0.1.", min=1, max=65535)
    ] = 9092,
    storage: Annotated[str, typer.Option(help="memory://tansu/ ou s3://BUCKET/")] = (
        "memory://tansu/"
    ),
) -> None:
    """Lancer le broker embarqué au premier plan sur 127.0.0.1 jusqu'à interruption."""
    from hub.runtime.broker import BrokerStartError, EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with EmbeddedBroker(port, storage_url=storage) as running:
            out.print(
                f"broker sur [bold]{running.bootstrap_servers}[/] (pid {running.pid}) ; "
                "Ctrl-C l'arrête"
            )
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except BrokerStartError as exc:
        raise fail(str(exc), CHECK_FAILED) from None


@topics_app.command("list")
def topics_list(
    agency: Annotated[
        list[str] | None, typer.Option(help="Identifiant d'organisme (répétable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu de texte.")] = False,
) -> None:
    """Afficher les topics déclarés."""
    from hub.contracts.topics import all_topics

    specs = all_topics(agency or [])
    if as_json:
        emit_json([spec.model_dump(mode="json") for spec in specs])
        return
    for spec in specs:
        out.print(f"{spec.name:40} {spec.partitions:3}  {spec.summary}", highlight=False)


@topics_app.command("create")
def topics_create(
    agency: Annotated[
        list[str] | None, typer.Option(help="Identifiant d'organisme (répétable).")
    ] = None,
    from_directory: Annotated[
        bool, typer.Option("--from-directory", help="Aussi chaque organisme de l'annuaire.")
    ] = False,
    replication_factor: Annotated[int, typer.Option()] = 1,
) -> None:
    """Créer sur HUB_BOOTSTRAP_SERVERS les topics déclarés qui n'existent pas encore."""
    from hub.contracts.topics import all_topics
    from hub.rules.directory import Directory
    from hub.runtime.topic_admin import create_topics

    settings = current_settings()
    agencies = list(agency or [])
    if from_directory:
        agencies += [a.id for a in Directory.load(settings.config_dir) if a.id not in agencies]
    created = run_on_broker(
        create_topics(settings, all_topics(agencies), replication_factor=replication_factor)
    )
    out.print(f"{len(created)} topic(s) créé(s) : {', '.join(created) or '—'}", highlight=False)
