"""The edges' ``hub`` commands: ``dashboard``, ``demo``, ``registry``, ``gateway``,
``webhooks``, ``prefecture`` and ``observatory``.

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

from connectors.observatory_cli import observatory_app
from connectors.prefecture.cli import prefecture_app
from hub.cli.context import current_settings, fail, out

registry_app = typer.Typer(no_args_is_help=True, help="The embedded schema registry.")
gateway_app = typer.Typer(
    help="The HTTP gateway: agencies publish, read their inbox and acknowledge over HTTP.",
    invoke_without_command=True,
)
webhooks_app = typer.Typer(no_args_is_help=True, help="Push agencies' inboxes to their webhooks.")


def register(app: typer.Typer) -> None:
    """Add the edges' commands and groups to ``app``."""
    app.command()(dashboard)
    app.command()(demo)
    app.add_typer(registry_app, name="registry")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(prefecture_app, name="prefecture")
    app.add_typer(observatory_app, name="observatory")


@registry_app.command("serve")
def registry_serve(
    port: Annotated[int, typer.Option(help="Loopback port.")] = 8081,
) -> None:
    """Serve the Confluent Schema Registry REST subset on 127.0.0.1."""
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
        str, typer.Option(help="Bind address; loopback unless the operators' network needs it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
) -> None:
    """Serve the operators' dashboard (docs/DASHBOARD.md) until SIGTERM or Ctrl-C."""
    from connectors.dashboard.app import serve

    serve(current_settings(), host=host, port=port)


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="... and this private key.")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Require client certificates from this CA (mTLS).")
    ] = None,
) -> None:
    """Serve the gateway until interrupted (``hub gateway``), or run a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    from connectors.gateway.app import TransportSecurity, serve

    if (tls_cert is None) != (tls_key is None) or (client_ca and not tls_cert):
        raise fail("--tls-cert and --tls-key go together; --client-ca needs both")
    tls = TransportSecurity(tls_cert, tls_key, client_ca) if tls_cert and tls_key else None
    serve(current_settings(), host=host, port=port, tls=tls)


@gateway_app.command("token")
def gateway_token(
    agency_id: Annotated[str, typer.Argument(help="Agency id of the directory.")],
    note: Annotated[str | None, typer.Option(help="Stored with the hash.")] = None,
) -> None:
    """Mint an API token: print it once, and the hashed entry for gateway_tokens.yaml."""
    from connectors.gateway.tokens import main as mint

    raise typer.Exit(mint([agency_id, *(["--note", note] if note else [])]))


@webhooks_app.command("run")
def webhooks_run() -> None:
    """Deliver the inboxes of the agencies in webhooks.yaml until SIGTERM or Ctrl-C."""
    from connectors.webhooks.deliverer import run_webhooks

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_webhooks(current_settings(), stop)

    asyncio.run(main())


def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Keep serving after the story.")] = False,
) -> None:
    """Run the hub's main job on the embedded broker, narrated."""
    from connectors.demo.run import run_demo

    raise typer.Exit(asyncio.run(run_demo(out, serve=serve)))
