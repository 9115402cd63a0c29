"""``hub acls``: the Kafka ACLs the directory calls for, rendered to a file and applied."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.cli.context import CHECK_FAILED, current_settings, err, fail, out, run_on_broker
from hub.cli.operator_output import YES_HELP, confirm

acls_app = typer.Typer(no_args_is_help=True, help="Les ACL Kafka en code (deploy/kafka/acls.yaml).")


def _declared_for_directory() -> frozenset[Any]:
    from hub.contracts.topics import CORE_TOPICS
    from hub.rules.directory import Directory
    from hub.trust.acls import expected_acls

    return expected_acls(Directory.load(current_settings().config_dir), CORE_TOPICS)


@acls_app.command("render")
def acls_render() -> None:
    """Afficher les ACL que demande l'annuaire de HUB_CONFIG_DIR (> deploy/kafka/acls.yaml)."""
    from hub.trust.acls import AclError, render_acls

    try:
        text = render_acls(_declared_for_directory())
    except AclError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(text)


@acls_app.command("apply")
def acls_apply(
    path: Annotated[
        Path, typer.Argument(help="Le fichier d'ACL déclaré (deploy/kafka/acls.yaml).")
    ],
    prune: Annotated[
        bool, typer.Option("--prune", help="Supprimer aussi les règles allow non déclarées.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """Créer les ACL déclarées sur HUB_BOOTSTRAP_SERVERS, en super-utilisateur. Refuse un
    fichier qui diffère de ce que demande l'annuaire de HUB_CONFIG_DIR."""
    from hub.trust.acl_admin import apply_acls
    from hub.trust.acls import AclError, load_acls, plan

    try:
        declared = load_acls(path)
        stale = plan(_declared_for_directory(), declared)
    except AclError as exc:
        raise fail(str(exc)) from None
    if not stale.empty:
        for line in stale.describe():
            err.print(line, highlight=False, markup=False)
        raise fail(f"{path} est en retard sur l'annuaire : lancez `hub acls render`", CHECK_FAILED)
    if prune:
        confirm("Supprimer du cluster les règles allow que le fichier ne déclare pas", yes=yes)
    done, others = run_on_broker(apply_acls(current_settings(), declared, prune=prune))
    for line in done.describe():
        out.print(line, highlight=False, markup=False)
    out.print(
        f"acl : {len(done.add)} créée(s), {len(done.remove)} supprimée(s), "
        f"{len(declared)} déclarée(s) ; {others} autre(s) règle(s) laissée(s) en place",
        highlight=False,
    )
