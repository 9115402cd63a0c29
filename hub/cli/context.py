"""What every ``hub`` command shares: the invocation's settings, the consoles, the exit codes.

Command groups outside ``hub/`` (the worker's, the edges') import these from here, never from
``hub.cli.app``, which mounts them: the app can then load them without an import loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from typer._click.core import Context as ClickContext
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from hub.cli.broker_reasons import broker_refusal
from hub.cli.french_help import OperatorContext, speak_french
from hub.cli.usage_errors import usage_line
from hub.runtime.config_files import ConfigError
from hub.runtime.operator_reasons import field_problems
from hub.runtime.settings import HubSettings, get_settings

BAD_INPUT = 2
CHECK_FAILED = 1

TRACEBACK_VARIABLE = "HUB_CLI_TRACEBACK"
"""Set to 1 to let an unexpected error print its traceback (developers, bug reports)."""

CONNECT_TIMEOUT_VARIABLE = "HUB_CLI_CONNECT_TIMEOUT_S"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
"""Hub policy: how long an operator command waits for the broker's first answer before it
says the broker is unreachable. A broker that accepts connections but never answers (hung,
overloaded, a wrong port) otherwise holds every command for aiokafka's 40 s request timeout;
a healthy broker answers a metadata request in milliseconds."""

T = TypeVar("T")

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


def connect_timeout_s() -> float:
    """``HUB_CLI_CONNECT_TIMEOUT_S`` if it is a positive number, else the default."""
    try:
        value = float(os.environ.get(CONNECT_TIMEOUT_VARIABLE, DEFAULT_CONNECT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_CONNECT_TIMEOUT_S
    return value if value > 0 else DEFAULT_CONNECT_TIMEOUT_S


async def probe_broker(settings: HubSettings, timeout_s: float) -> None:
    """Ask the broker for its metadata once, within ``timeout_s``; raises
    ``KafkaConnectionError`` when it cannot be reached or does not answer."""
    from aiokafka.client import AIOKafkaClient

    from hub.runtime.kafka_options import client_options

    client = AIOKafkaClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        await client.bootstrap()
    finally:
        await client.close()


def run_on_broker(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's broker work, after a probe bounded by ``connect_timeout_s()``: a
    broker that is down or hung is said in one line within seconds (``OperatorGroup``), not
    after aiokafka's own 40 s timeouts. The command's coroutine is closed unrun then."""

    async def main() -> T:
        try:
            await probe_broker(current_settings(), connect_timeout_s())
        except BaseException:
            coroutine.close()
            raise
        return await coroutine

    return asyncio.run(main())


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print ``message`` on stderr and return the exit to raise."""
    err.print(f"[bold red]erreur :[/] {one_line(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def explain(exc: BaseException, settings: HubSettings) -> tuple[str, int]:
    """One line for the operator saying what failed and what to do, and the exit code."""
    # aiokafka is imported here, not at module level: `hub --help` stays fast.
    from aiokafka.errors import KafkaError

    servers = settings.bootstrap_servers
    if broker_unreachable(exc):
        return (
            f"broker injoignable sur {servers} : vérifiez HUB_BOOTSTRAP_SERVERS "
            "ou lancez `hub broker`",
            CHECK_FAILED,
        )
    if isinstance(exc, KafkaError):
        return (broker_refusal(exc, servers), CHECK_FAILED)
    if isinstance(exc, ConfigError):
        return (f"configuration invalide : {_one_line(exc)}", BAD_INPUT)
    if isinstance(exc, ValidationError):
        return (f"configuration invalide : {validation_reasons(exc)}", BAD_INPUT)
    return (
        f"erreur inattendue ({type(exc).__name__}: {_one_line(exc)}) : relancez avec "
        f"{TRACEBACK_VARIABLE}=1 pour la trace et signalez-la",
        CHECK_FAILED,
    )


def validation_reasons(exc: ValidationError) -> str:
    """A pydantic error as one French line: ``field.path : raison; ...`` (never the input
    values, which may be secrets or personal data)."""
    return field_problems(exc)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


def broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says the broker cannot be reached."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; bounded all the same
        if seen is None:
            return False
        if isinstance(
            seen, KafkaConnectionError | KafkaTimeoutError | ConnectionError | TimeoutError
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _QuietConnectionRefusals(logging.Filter):
    """Drops aiokafka's "Unable connect to ..." and "Unable to request metadata from ..."
    lines while any ``hub`` command runs.

    Kept on purpose for the servers too (issue 22 asked to revisit it): a one-shot command
    says the broker is down in its one line, and the long-running ones log an outage in
    their own words, once, with context (``router.broker_unreachable`` and
    ``router.broker_reconnected``, ``gateway.broker_unavailable``, ``webhook.broker_error``,
    the readiness probes), while aiokafka repeats its unstructured line for every node and
    every retry. Every other aiokafka line passes (rate-limited by ``hub/runtime/logs.py``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_CONNECTION_LINES)


_CONNECTION_LINES = ("Unable connect to", "Unable to request metadata from")


def _one_line(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__


_AIOKAFKA = logging.getLogger("aiokafka")


class OperatorGroup(TyperGroup):
    """The root ``hub`` group: whatever a command raises ends as one line on stderr, and
    every command speaks French.

    Every command runs inside this ``invoke``, those of the plugins (``agents/``,
    ``connectors/``) and any added later included, so no command needs its own try/except:
    an unreachable broker, an invalid configuration file or an unexpected error becomes
    ``fail(explain(exc))`` and a non-zero exit, never a traceback. A mistyped command line
    (unknown option, missing argument, refused value) is one French line too
    (``hub/cli/usage_errors.py``), and ``--help`` is French for every command
    (``hub/cli/french_help.py``).
    """

    context_class = OperatorContext

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: ClickContext | None = None,
        **extra: Any,
    ) -> ClickContext:
        speak_french(self)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            message, code = usage_failure(exc)
        raise fail(message, code) if message else typer.Exit(code)

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        quiet = _QuietConnectionRefusals()
        _AIOKAFKA.addFilter(quiet)
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            message, code = usage_failure(exc)
        except typer.Abort:
            message, code = "interrompu à la demande de l'opérateur", CHECK_FAILED
        except Exception as exc:
            if _is_cli_flow(exc) or os.environ.get(TRACEBACK_VARIABLE) == "1":
                raise
            message, code = explain(exc, current_settings())
        finally:
            _AIOKAFKA.removeFilter(quiet)
        _collect_quietly()
        raise fail(message, code) if message else typer.Exit(code)


def usage_failure(exc: UsageError) -> tuple[str, int]:
    """The French line for a usage error, and its exit code (2). A group called without its
    sub-command has printed its (French) help already: nothing more to say."""
    if isinstance(exc, NoArgsIsHelpError):
        return "", exc.exit_code
    return usage_line(exc), exc.exit_code


def _collect_quietly() -> None:
    """Collect the clients a failed command left behind, without asyncio's "Unclosed
    AIOKafkaConsumer" lines under the one line that already said what failed."""
    asyncio_log = logging.getLogger("asyncio")
    was_disabled = asyncio_log.disabled
    asyncio_log.disabled = True
    try:
        gc.collect()
    finally:
        asyncio_log.disabled = was_disabled


def _is_cli_flow(exc: Exception) -> bool:
    """typer's own exits, aborts and usage errors, which it prints itself."""
    return isinstance(exc, typer.TyperException | typer.Exit | typer.Abort)
