"""``hub acls``: the Kafka ACLs the directory calls for, rendered to a file and applied."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.cli.context import CHECK_FAILED, current_settings, err, fail, out

acls_app = typer.Typer(no_args_is_help=True, help="Kafka ACLs as code (deploy/kafka/acls.yaml).")


def _declared_for_directory() -> frozenset[Any]:
    from hub.contracts.topics import CORE_TOPICS
    from hub.rules.directory import Directory
    from hub.trust.acls import expected_acls

    return expected_acls(Directory.load(current_settings().config_dir), CORE_TOPICS)


@acls_app.command("render")
def acls_render() -> None:
    """Print the ACLs the directory in HUB_CONFIG_DIR calls for (> deploy/kafka/acls.yaml)."""
    from hub.trust.acls import AclError, render_acls

    try:
        text = render_acls(_declared_for_directory())
    except AclError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(text)


@acls_app.command("apply")
def acls_apply(
    path: Annotated[Path, typer.Argument(help="The declared ACL file (deploy/kafka/acls.yaml).")],
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete allow rules that are not declared.")
    ] = False,
) -> None:
    """Create the declared ACLs on HUB_BOOTSTRAP_SERVERS, as a super user. Refuses a file that
    differs from what the directory in HUB_CONFIG_DIR calls for."""
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
        raise fail(f"{path} is stale against the directory: run `hub acls render`", CHECK_FAILED)
    done, others = asyncio.run(apply_acls(current_settings(), declared, prune=prune))
    for line in done.describe():
        out.print(line, highlight=False, markup=False)
    out.print(
        f"acls: {len(done.add)} created, {len(done.remove)} deleted, {len(declared)} declared; "
        f"{others} other rule(s) left alone",
        highlight=False,
    )
