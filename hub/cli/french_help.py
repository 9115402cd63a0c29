"""``--help`` in French for every ``hub`` command, the plugins' included.

Typer renders help with its own English words ("Usage:", "Commands", "[required]", "Show this
message and exit.", ``<str>``/``<int>`` metavars) that no setting translates. ``OperatorContext``
replaces that rendering once: ``hub/cli/context.py``'s ``OperatorGroup`` gives every command of
the tree this context (``speak_french``), so a command added later, by any plugin, is covered
without a line of its own.

What stays as typed: command and option names (``--json``, ``list``), which are syntax the
operator types, and values (``granted``, ``memory://tansu/``).

typer (pinned in pyproject.toml) vendors click as ``typer._click``; the parameter classes read
here are typer's public ``TyperArgument`` and ``TyperOption``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import typer
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer._click.core import Command, Parameter
from typer.core import TyperArgument, TyperGroup, TyperOption

ARGUMENT_NAMES = {
    "agency": "ORGANISME",
    "agency_file": "FICHIER_ORGANISME",
    "agency_id": "ORGANISME",
    "case": "DOSSIER",
    "dead_letter_id": "LETTRE_MORTE",
    "key_id": "ID_CLÉ",
    "path": "FICHIER",
    "pem": "FICHIER_PEM",
    "public_key": "CLÉ_PUBLIQUE",
    "request_id": "DEMANDE",
    "subject": "SUJET",
}
"""What the operator reads for a parameter's value, by the parameter's name: the same word for
the same thing in every command (a ``case`` is always a DOSSIER). A parameter with a
``metavar`` of its own keeps it; ``tests/unit/cli/test_cli_speaks_french.py`` fails on an
argument named by neither."""

_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "OUI|NON"),
    (int, "ENTIER"),
    (float, "NOMBRE"),
    (UUID, "UUID"),
    (datetime, "DATE"),
    (Path, "CHEMIN"),
)

BUILT_IN_HELP = {
    "help": "Afficher cette aide et quitter.",
    "install_completion": "Installer la complétion de `hub` pour le shell courant.",
    "show_completion": "Afficher le script de complétion du shell courant (à copier).",
}
"""The options typer adds itself, by parameter name, with their help in French."""

COMMAND_WORD = "COMMANDE"
USAGE_PREFIX = "Utilisation :"


class OperatorContext(typer.Context):
    """A command's context whose help is French (``render_help``)."""

    def get_help(self) -> str:
        """Print the help on stdout and return nothing more to print (typer's own rich help
        does the same: click's ``--help`` then echoes an empty line)."""
        render_help(self, Console())
        return ""


def speak_french(command: Command) -> None:
    """Give ``command`` and every command under it the ``OperatorContext``."""
    for each in _tree(command):
        each.context_class = OperatorContext


def _tree(command: Command) -> Iterator[Command]:
    yield command
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from _tree(sub)


def value_name(param: Parameter) -> str:
    """The word shown for a parameter's value: its metavar, its name in ``ARGUMENT_NAMES``,
    its choices, its type in French; nothing for a flag."""
    if param.metavar:
        return param.metavar
    if param.name in ARGUMENT_NAMES:
        return ARGUMENT_NAMES[param.name]
    if not isinstance(param, TyperArgument | TyperOption):
        return (param.name or "").upper()
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    choices = param.type_descriptor.choices
    if choices:
        return "|".join(choice_text(c) for c in choices)
    annotation = param.type_descriptor.annotation
    for kind, name in _TYPE_NAMES:
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return name
    if param.type_descriptor.is_path:
        return "CHEMIN"
    return "TEXTE" if isinstance(param, TyperOption) else (param.name or "").upper()


def choice_text(choice: Any) -> str:
    """A choice as the operator types it."""
    return str(choice.value) if isinstance(choice, Enum) else str(choice)


def usage(ctx: typer.Context) -> str:
    """``hub case show [OPTIONS] DOSSIER`` for the command of ``ctx``."""
    command = ctx.command
    pieces = [ctx.command_path, "[OPTIONS]"]
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = value_name(param) + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, TyperGroup):
        rest = f"{COMMAND_WORD} [ARGS]..."
        pieces.append(f"[{rest}]" if command.invoke_without_command else rest)
    return " ".join(pieces)


def render_help(ctx: typer.Context, console: Console) -> None:
    """The command's usage, its help, its arguments, options and sub-commands, in French."""
    command = ctx.command
    console.print(Text.assemble((USAGE_PREFIX, "yellow"), " ", (usage(ctx), "bold")))
    if command.help:
        console.print()
        for paragraph in _paragraphs(command.help):
            console.print(Text(paragraph), soft_wrap=False)
    console.print()
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    help_option = command.get_help_option(ctx)
    arguments = [p for p in params if isinstance(p, TyperArgument)]
    options = [p for p in params if not isinstance(p, TyperArgument)]
    if arguments:
        console.print(_panel("Arguments", [_param_row(p, help_option) for p in arguments]))
    if options:
        console.print(_panel("Options", [_param_row(p, help_option) for p in options]))
    if isinstance(command, TyperGroup):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                summary = _paragraphs(sub.short_help or sub.help or "")
                rows.append([Text(name, style="bold cyan"), Text(summary[0] if summary else "")])
        if rows:
            console.print(_panel("Commandes", rows))


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of a docstring, each on one logical line (the console wraps them)."""
    cleaned = text.replace("``", "`")
    return [" ".join(block.split()) for block in cleaned.split("\n\n") if block.strip()]


def _param_row(param: Parameter, help_option: Parameter | None) -> list[Text]:
    names = ", ".join([*param.opts, *param.secondary_opts])
    if isinstance(param, TyperArgument):
        names = value_name(param)
        value = ""
    else:
        value = value_name(param)
    marker = Text("*" if param.required else "", style="red")
    help_text = Text(_param_help(param, is_help=param is help_option))
    for note in _notes(param):
        help_text.append(f" {note}", style="dim")
    return [marker, Text(names, style="bold cyan"), Text(value, style="yellow"), help_text]


def _param_help(param: Parameter, *, is_help: bool) -> str:
    if is_help:
        return BUILT_IN_HELP["help"]
    if param.name in BUILT_IN_HELP:
        return BUILT_IN_HELP[param.name]
    text = getattr(param, "help", None) or ""
    return " ".join(text.replace("``", "`").split())


def _notes(param: Parameter) -> list[str]:
    """``[obligatoire]``, ``[défaut : 9092]``, ``[de 1 à 65535]``, ``[répétable]``."""
    notes = []
    if param.required:
        notes.append("[obligatoire]")
    if isinstance(param, TyperOption | TyperArgument):
        info = param.type_descriptor.parameter_info
        if info.min is not None and info.max is not None:
            notes.append(f"[de {info.min} à {info.max}]")
        elif info.min is not None:
            notes.append(f"[au moins {info.min}]")
        elif info.max is not None:
            notes.append(f"[au plus {info.max}]")
    if isinstance(param, TyperOption) and param.multiple:
        notes.append("[répétable]")
    default = _default_text(param)
    if default:
        notes.append(f"[défaut : {default}]")
    if getattr(param, "show_envvar", False) and isinstance(param.envvar, str):
        notes.append(f"[variable : {param.envvar}]")
    return notes


def _default_text(param: Parameter) -> str:
    show = getattr(param, "show_default", False)
    if isinstance(show, str):
        return show
    default = param.default
    if isinstance(param, TyperOption) and param.secondary_opts and isinstance(default, bool):
        return (param.opts if default else param.secondary_opts)[0]  # --wait / --no-wait
    if not show or param.required or callable(default) or isinstance(default, bool):
        return ""
    if default is None or default in ((), []):
        return ""
    if isinstance(default, list | tuple):
        return ", ".join(choice_text(d) for d in default)
    return choice_text(default)


def _panel(title: str, rows: list[list[Text]]) -> Panel:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1), pad_edge=False)
    width = len(rows[0])
    for index in range(width):
        table.add_column(ratio=1 if index == width - 1 else None, no_wrap=index < width - 1)
    for row in rows:
        table.add_row(*row)
    return Panel(table, title=title, title_align="left", border_style="dim", box=box.ROUNDED)
