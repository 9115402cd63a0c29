"""The ``hub`` command line: broker, topics, schemas, registry, decode, demo.

Bad input gets a clear message on stderr and a non-zero exit: 1 when a check fails, 2 when
the input itself is invalid. Agents and connectors are imported lazily, inside the commands
that run them, so ``hub/`` never depends on them at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hub.cli.audit import register_audit_commands
from hub.cli.keys import keys_app
from hub.runtime.logs import configure_logging
from hub.runtime.settings import HubSettings, get_settings

BAD_INPUT = 2
CHECK_FAILED = 1

app = typer.Typer(no_args_is_help=True, help="NRM Hub: referrals between French agencies.")
topics_app = typer.Typer(no_args_is_help=True, help="Declare and create the hub's topics.")
schemas_app = typer.Typer(no_args_is_help=True, help="The Avro contracts and their evolution.")
registry_app = typer.Typer(no_args_is_help=True, help="The embedded schema registry.")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(registry_app, name="registry")
app.add_typer(keys_app, name="keys")
register_audit_commands(app)
case_app = typer.Typer(no_args_is_help=True, help="One case: state, requests, deadlines.")
app.add_typer(case_app, name="case")
deadletters_app = typer.Typer(no_args_is_help=True, help="Dead letters: list and re-drive.")
app.add_typer(deadletters_app, name="deadletters")
gateway_app = typer.Typer(
    help="The HTTP gateway: agencies publish, read their inbox and acknowledge over HTTP.",
    invoke_without_command=True,
)
webhooks_app = typer.Typer(no_args_is_help=True, help="Push agencies' inboxes to their webhooks.")
app.add_typer(gateway_app, name="gateway")
app.add_typer(webhooks_app, name="webhooks")
acls_app = typer.Typer(no_args_is_help=True, help="Kafka ACLs as code (deploy/kafka/acls.yaml).")
app.add_typer(acls_app, name="acls")

out = Console()
err = Console(stderr=True)


def current_settings() -> HubSettings:
    """The settings a caller passed as the context object (tests, embedding), else the
    process-wide ones from the environment."""
    # typer (pinned) vendors click: its context stack is typer's own, not click's.
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    while context is not None:
        if isinstance(context.obj, HubSettings):
            return context.obj
        context = context.parent
    return get_settings()


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@app.callback()
def main_options(
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines.")] = False,
) -> None:
    """Configure logging once for every command."""
    settings = current_settings()
    configure_logging(json=log_json or settings.log_json, level=settings.log_level)


@app.command()
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


def _registry_root(settings: HubSettings) -> Path:
    return settings.schemas_dir


@schemas_app.command("list")
def schemas_list() -> None:
    """Print every registered (id, subject, version)."""
    from hub.contracts.registry import SchemaRegistry

    for registered in SchemaRegistry.load(_registry_root(current_settings())):
        out.print(
            f"{registered.schema_id:4}  {registered.subject}  v{registered.version}",
            highlight=False,
        )


@schemas_app.command("check")
def schemas_check(
    schemas_dir: Annotated[Path | None, typer.Option(help="Defaults to HUB_SCHEMAS_DIR.")] = None,
) -> None:
    """Fail when a source schema is not BACKWARD_TRANSITIVE with every kept version.

    Compatible changes not yet registered are listed, and also fail the check: ids must be
    committed (run ``hub schemas register``).
    """
    from hub.contracts.registry import SchemaRegistry

    root = schemas_dir or _registry_root(current_settings())
    changes = SchemaRegistry.load(root).pending_changes(_known_subjects(root))
    for change in changes:
        if change.compatible:
            err.print(
                f"[yellow]unregistered[/] {change.subject}: compatible change, "
                f"run `hub schemas register` to freeze it as v{change.next_version}",
                highlight=False,
            )
        for problem in change.incompatibilities:
            err.print(
                f"[bold red]incompatible[/] {change.subject}: {problem.describe()}", highlight=False
            )
    if any(not c.compatible for c in changes):
        raise fail("schema change breaks BACKWARD_TRANSITIVE compatibility", CHECK_FAILED)
    if changes:
        raise fail("compatible schema changes are not registered yet", CHECK_FAILED)
    out.print("schemas: every subject matches its latest registered version")


@schemas_app.command("register")
def schemas_register(
    subject: Annotated[list[str] | None, typer.Argument(help="Subjects; default: all.")] = None,
    schemas_dir: Annotated[Path | None, typer.Option(help="Defaults to HUB_SCHEMAS_DIR.")] = None,
) -> None:
    """Freeze changed or new subjects under new schema ids (refuses incompatible changes)."""
    from hub.contracts.registry import SchemaRegistry, UnknownSchemaError, register

    root = schemas_dir or _registry_root(current_settings())
    try:
        changes = SchemaRegistry.load(root).pending_changes(subject or _known_subjects(root))
        created = register(root, changes)
    except (ValueError, UnknownSchemaError) as exc:
        raise fail(str(exc), CHECK_FAILED) from None
    for registered in created:
        out.print(
            f"registered {registered.subject} v{registered.version} as id {registered.schema_id}",
            highlight=False,
        )
    if not created:
        out.print("nothing to register")


def _known_subjects(root: Path) -> list[str]:
    """Registered subjects plus every event subject the hub's models declare."""
    from hub.contracts.events import EVENT_MODELS
    from hub.contracts.registry import SchemaRegistry

    return sorted(set(SchemaRegistry.load(root).subjects()) | set(EVENT_MODELS))


@registry_app.command("serve")
def registry_serve(
    port: Annotated[int, typer.Option(help="Loopback port.")] = 8081,
) -> None:
    """Serve the Confluent Schema Registry REST subset on 127.0.0.1."""
    import uvicorn

    from connectors.registry_api import create_registry_app
    from hub.contracts.registry import SchemaRegistry

    registry = SchemaRegistry.load(_registry_root(current_settings()))
    uvicorn.run(create_registry_app(registry), host="127.0.0.1", port=port, log_level="info")


@app.command()
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

    asyncio.run(main())


@app.command()
def dashboard(
    host: Annotated[
        str, typer.Option(help="Bind address; loopback unless the operators' network needs it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
) -> None:
    """Serve the operators' dashboard (docs/DASHBOARD.md) until SIGTERM or Ctrl-C."""
    from connectors.dashboard.app import serve

    serve(current_settings(), host=host, port=port)


@app.command()
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


@app.command()
def decode(
    path: Annotated[str, typer.Argument(help="File of one framed record, or - for stdin.")],
) -> None:
    """Decode one Confluent-framed Avro record and print it as JSON."""
    from hub.contracts.codec import Codec, CodecError
    from hub.contracts.registry import SchemaRegistry

    settings = current_settings()
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        decoded = codec.decode(data)
    except CodecError as exc:
        raise fail(f"{exc.reason.value}: {exc.detail}") from None
    out.print_json(
        json.dumps(
            {"schema_id": decoded.schema_id, "subject": decoded.subject, "record": decoded.record},
            default=_json_default,
        )
    )


@app.command()
def encode(
    subject: Annotated[str, typer.Argument(help="Subject, e.g. fr.nrm.ReferralOpened.")],
    path: Annotated[str, typer.Argument(help="JSON file of the event, or - for stdin.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the frame.")],
) -> None:
    """Validate a JSON event against its model and schema, and write the framed record."""
    from pydantic import ValidationError

    from hub.contracts.codec import Codec, CodecError
    from hub.contracts.events import EVENT_MODELS
    from hub.contracts.registry import SchemaRegistry

    settings = current_settings()
    model = EVENT_MODELS.get(subject)
    if model is None:
        raise fail(f"unknown subject {subject!r}; known: {', '.join(sorted(EVENT_MODELS))}")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        event = model.model_validate_json(text)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except ValidationError as exc:
        raise fail(f"invalid {subject}: {exc}") from None
    codec = Codec(
        SchemaRegistry.load(settings.schemas_dir), max_record_bytes=settings.max_record_bytes
    )
    try:
        output.write_bytes(codec.encode(subject, event.model_dump()))
    except CodecError as exc:
        raise fail(f"{exc.reason.value}: {exc.detail}") from None
    out.print(f"wrote {output}")


@app.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Keep serving after the story.")] = False,
) -> None:
    """Run the hub's main job on the embedded broker, narrated."""
    from hub.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(out, serve=serve)))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def main() -> None:
    """Entry point of the ``hub`` script.

    Connector tools with their own command groups are mounted here, at run time, so that
    importing ``hub.cli.app`` never imports ``connectors/``.
    """
    from connectors.observatory_cli import observatory_app
    from connectors.prefecture.cli import prefecture_app

    app.add_typer(prefecture_app, name="prefecture")
    app.add_typer(observatory_app, name="observatory")
    app()
