"""The edges' ``hub`` commands: ``dashboard``, ``public-report``, ``demo``, ``registry``,
``gateway``, ``webhooks``, ``prefecture``, ``observatory`` and ``monitoring``.

Mounted by ``hub/cli/app.py`` through the ``nrm_hub.commands`` entry point (pyproject.toml): the
hub's own command line never imports the edges. Servers and clients are imported inside the
commands, so ``hub --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from connectors.monitoring.cli import monitoring_app
from connectors.observatory_cli import observatory_app
from connectors.prefecture.cli import prefecture_app
from hub.cli.context import current_settings, fail, out

registry_app = typer.Typer(no_args_is_help=True, help="Le registre de schémas embarqué.")
gateway_app = typer.Typer(
    help="La passerelle HTTP : les organismes publient, lisent leur boîte et répondent en HTTP.",
    invoke_without_command=True,
)
webhooks_app = typer.Typer(
    no_args_is_help=True, help="Pousser les boîtes des organismes vers leurs webhooks."
)


def register(app: typer.Typer) -> None:
    """Add the edges' commands and groups to ``app``."""
    app.command()(dashboard)
    app.command("public-report")(public_report)
    app.command()(demo)
    app.add_typer(registry_app, name="registry")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(prefecture_app, name="prefecture")
    app.add_typer(observatory_app, name="observatory")
    app.add_typer(monitoring_app, name="monitoring")


@registry_app.command("serve")
def registry_serve(
    port: Annotated[int, typer.Option(help="Port sur 127.0.0.1.", min=1, max=65535)] = 8081,
) -> None:
    """Servir le sous-ensemble REST du Confluent Schema Registry sur 127.0.0.1."""
    import uvicorn

    from connectors.registry_api import create_registry_app
    from hub.contracts.registry import SchemaRegistry

    registry = SchemaRegistry.load(current_settings().schemas_dir)
    # No log_config: uvicorn's lines go through the hub's one logging configuration.
    uvicorn.run(
        create_registry_app(registry),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="info",
    )


def dashboard(
    host: Annotated[
        str,
        typer.Option(help="Adresse d'écoute ; 127.0.0.1 sauf si le réseau des opérateurs l'exige."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port HTTP.", min=1, max=65535)] = 8000,
) -> None:
    """Servir le tableau de bord des opérateurs (docs/DASHBOARD.md) jusqu'à SIGTERM ou Ctrl-C."""
    from connectors.dashboard.app import serve

    serve(current_settings(), host=host, port=port)


def public_report(
    host: Annotated[
        str, typer.Option(help="Adresse d'écoute ; 127.0.0.1 derrière le mandataire public.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port HTTP.", min=1, max=65535)] = 8090,
) -> None:
    """Servir la page publique de signalement des témoins (docs/WITNESS_REPORTS.md)."""
    from connectors.public_report.app import serve

    serve(current_settings(), host=host, port=port)


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface d'écoute (127.0.0.1 par défaut).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port TCP.", min=1, max=65535)] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Servir en HTTPS avec ce certificat.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="... et cette clé privée.")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Exiger des certificats clients de cette AC (mTLS).")
    ] = None,
) -> None:
    """Servir la passerelle jusqu'à interruption (``hub gateway``), ou lancer une sous-commande."""
    if ctx.invoked_subcommand is not None:
        return
    from connectors.gateway.app import TransportSecurity, serve

    if (tls_cert is None) != (tls_key is None) or (client_ca and not tls_cert):
        raise fail("--tls-cert et --tls-key vont ensemble ; --client-ca exige les deux")
    tls = TransportSecurity(tls_cert, tls_key, client_ca) if tls_cert and tls_key else None
    serve(current_settings(), host=host, port=port, tls=tls)


@gateway_app.command("token")
def gateway_token(
    agency_id: Annotated[str, typer.Argument(help="Identifiant d'organisme de l'annuaire.")],
    note: Annotated[str | None, typer.Option(help="Conservée avec l'empreinte.")] = None,
) -> None:
    """Créer un jeton d'API : l'afficher une fois, avec l'entrée hachée pour gateway_tokens.yaml."""
    from connectors.gateway.tokens import main as mint

    raise typer.Exit(mint([agency_id, *(["--note", note] if note else [])]))


@webhooks_app.command("run")
def webhooks_run() -> None:
    """Livrer les boîtes des organismes de webhooks.yaml jusqu'à SIGTERM ou Ctrl-C."""
    from connectors.webhooks.deliverer import run_webhooks

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_webhooks(current_settings(), stop)

    asyncio.run(main())


def demo(
    serve: Annotated[
        bool, typer.Option("--serve", help="Continuer à servir après le récit.")
    ] = False,
) -> None:
    """Dérouler le travail principal du hub sur le broker embarqué, raconté."""
    from connectors.demo.run import run_demo

    raise typer.Exit(asyncio.run(run_demo(out, serve=serve)))
