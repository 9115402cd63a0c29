"""``hub prefecture …``: the clerk's commands over the local work queue.

Mounted by ``connectors/commands.py`` (``app.add_typer(prefecture_app, name="prefecture")``).
Output for the clerk in French; ids whole (a request may be named by a unique prefix);
times in Europe/Paris with their zone; ``--json`` for scripts. Bad input (unknown agency or
request, malformed or ambiguous request id, unknown answer) prints one line and exits 2.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from connectors.prefecture.queue import Answer, QueueError, WorkQueue
from connectors.prefecture.subscriber import SubscriberError, answer, sync
from hub.cli.context import current_settings, fail, out, run_on_broker
from hub.cli.operator_output import REQUEST, emit_json, operator_listing, paris_time, resolve_id

prefecture_app = typer.Typer(
    no_args_is_help=True,
    help="Le poste de la préfecture : demandes de titre dans une file locale, réponses au hub.",
)

DbOption = Annotated[Path, typer.Option("--db", help="Le fichier sqlite de la file de travail.")]
STATES = {"pending": "en attente", "receipt": "récépissé délivré", "closed": "clos"}


@prefecture_app.command("sync")
def sync_command(
    agency: Annotated[
        str, typer.Argument(help="L'identifiant de la préfecture, ex. prefecture-93.")
    ],
    db: DbOption,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0.1, help="Attente maximale de la boîte, en secondes."),
    ] = 10.0,
) -> None:
    """Tirer les demandes de titre des départements de la préfecture dans la file."""
    try:
        result = run_on_broker(sync(current_settings(), agency, db, wait_s=wait))
    except SubscriberError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"{result.queued} nouvelle(s) demande(s) de titre, {result.duplicates} déjà en file, "
        f"{result.skipped} autre(s) message(s) ignoré(s), "
        f"{result.erased} demande(s) effacée(s) à la demande du hub",
        highlight=False,
    )


@prefecture_app.command("list")
def list_command(
    db: DbOption,
    as_json: Annotated[bool, typer.Option("--json", help="JSON au lieu d'un tableau.")] = False,
) -> None:
    """Les demandes de titre qui attendent une décision (en attente, ou récépissé délivré),
    avec le nom de la personne à qui le titre est délivré."""
    if not db.exists():
        raise fail(f"pas de file de travail à {db} (lancez d'abord `hub prefecture sync`)")
    with WorkQueue(db) as queue:
        items = queue.pending()
    if as_json:
        emit_json(
            [
                {
                    "request_id": str(item.request_id),
                    "case_id": str(item.case_id),
                    "event_id": str(item.event_id),
                    "departement": item.departement,
                    "permit_type": item.permit_type,
                    "person_ref": item.person_ref,
                    "first_name": item.first_name,
                    "last_name": item.last_name,
                    "received_at": item.received_at,
                    "state": item.state,
                }
                for item in items
            ]
        )
        return
    listing = operator_listing(
        f"{len(items)} demande(s) en attente de décision, heure de Paris",
        ["demande", "dossier", "personne", "réf.", "dép.", "titre", "reçue", "état"],
        [
            [
                str(item.request_id),
                str(item.case_id),
                item.person,
                item.person_ref,
                item.departement,
                item.permit_type,
                paris_time(datetime.fromisoformat(item.received_at)),
                STATES.get(item.state, item.state),
            ]
            for item in items
        ],
        ids=["demande", "dossier"],
        width=out.width,
    )
    out.print(listing, highlight=False, markup=False)


@prefecture_app.command("answer")
def answer_command(
    request_id: Annotated[str, typer.Argument(help="La demande de titre (UUID, ou son début).")],
    as_: Annotated[Answer, typer.Option("--as", help="La réponse de l'agent.")],
    db: DbOption,
    agency: Annotated[str, typer.Option("--agency", help="L'identifiant de la préfecture.")],
) -> None:
    """Répondre à une demande de titre et publier l'accusé au hub."""
    if not db.exists():
        raise fail(f"pas de file de travail à {db} (lancez d'abord `hub prefecture sync`)")
    with WorkQueue(db) as queue:
        wanted = resolve_id(request_id, queue.request_ids(), REQUEST)
    try:
        event = run_on_broker(answer(current_settings(), agency, db, wanted, as_))
    except (QueueError, SubscriberError) as exc:
        raise fail(str(exc)) from None
    out.print(
        f"publié {event.status.value} ({event.detail}) pour la demande {wanted}, "
        f"événement {event.envelope.event_id}",
        highlight=False,
    )
