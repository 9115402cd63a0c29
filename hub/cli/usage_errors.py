"""A mistyped command line, said to the operator in one French line.

Typer (click, vendored as ``typer._click``) words its usage errors in English over several
lines ("Usage: ...", "Try ... for help.", a boxed "Error"). ``usage_line`` reads the error's
kind and fields (the option, the parameter, the value pydantic refused) and says the same in
French, with where to look: ``option inconnue : --bogus (voir `hub topics list --help`)``.

A message that matches none of typer's templates is the hub's own (French) and kept.
"""

from __future__ import annotations

import re
from difflib import get_close_matches

from pydantic import ValidationError
from typer._click.core import Parameter
from typer._click.exceptions import (
    BadArgumentUsage,
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperArgument, TyperGroup, TyperOption

from hub.cli.french_help import choice_text, value_name

SHOWN_VALUE_CHARS = 80
"""Hub policy: a refused value is echoed at most this long (one line stays one line)."""

_EXTRA_ARGUMENTS = re.compile(r"^Got unexpected extra argument\(s\) \((?P<args>.*)\)$", re.DOTALL)
_NO_SUCH_COMMAND = re.compile(r"^No such command '(?P<name>.*?)'\.")
_NEEDS_VALUES = re.compile(r"requires (?P<count>\d+) arguments")
_TAKES_VALUES = re.compile(r"^Argument '?(?P<name>.*?)'? takes (?P<count>\d+) values")
_PATH_PROBLEMS = (
    (re.compile(r"^\w+ '(?P<path>.*)' does not exist\.$"), "« {path} » n'existe pas"),
    (re.compile(r"^\w+ '(?P<path>.*)' is a file\.$"), "« {path} » est un fichier"),
    (re.compile(r"^\w+ '(?P<path>.*)' is a directory\.$"), "« {path} » est un répertoire"),
    (re.compile(r"^\w+ '(?P<path>.*)' is not readable\.$"), "« {path} » n'est pas lisible"),
    (re.compile(r"^\w+ '(?P<path>.*)' is not writable\.$"), "« {path} » n'est pas modifiable"),
)
_NOT_VALID = re.compile(r"^Value (?P<value>.*) is not a valid \w+\.$", re.DOTALL)
_VALUE_KINDS = {
    "int_parsing": "un nombre entier",
    "int_from_float": "un nombre entier",
    "float_parsing": "un nombre",
    "bool_parsing": "true ou false",
    "uuid_parsing": "un UUID",
    "datetime_parsing": "une date",
    "datetime_from_date_parsing": "une date",
    "date_parsing": "une date",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "au moins"),
    "greater_than": ("gt", "plus que"),
    "less_than_equal": ("le", "au plus"),
    "less_than": ("lt", "moins que"),
}


def usage_line(exc: UsageError) -> str:
    """What was wrong on the command line, and which ``--help`` to read, in one line."""
    reason = " ".join(_reason(exc).split())
    if exc.ctx is None:
        return reason
    return f"{reason} (voir `{exc.ctx.command_path} --help`)"


def _reason(exc: UsageError) -> str:
    if isinstance(exc, NoSuchOption):
        near = sorted(exc.possibilities or ())
        return f"option inconnue : {exc.option_name}" + (
            f" ; options proches : {', '.join(near)}" if near else ""
        )
    if isinstance(exc, MissingParameter):
        return _missing(exc.param)
    if isinstance(exc, BadParameter):
        return f"valeur refusée pour {_param_label(exc.param)} : {_refusal(exc)}"
    if isinstance(exc, BadOptionUsage):
        if "does not take a value" in exc.message:
            return f"l'option {exc.option_name} ne prend pas de valeur"
        count = _NEEDS_VALUES.search(exc.message)
        values = f"{count['count']} valeurs" if count else "une valeur"
        return f"l'option {exc.option_name} attend {values}"
    if isinstance(exc, BadArgumentUsage) and (takes := _TAKES_VALUES.match(exc.message)):
        return f"l'argument {takes['name']} attend {takes['count']} valeurs"
    return _command_problem(exc)


def _command_problem(exc: UsageError) -> str:
    message = exc.message
    group = exc.ctx.command if exc.ctx is not None else None
    known = list(group.commands) if isinstance(group, TyperGroup) else []
    if message == "Missing command.":
        return f"commande manquante : {' | '.join(known)}"
    if unknown := _NO_SUCH_COMMAND.match(message):
        name = unknown["name"]
        near = get_close_matches(name, known)
        return f"commande inconnue : « {name} »" + (
            f" ; vouliez-vous dire {' ou '.join(near)} ?" if near else ""
        )
    if extra := _EXTRA_ARGUMENTS.match(message):
        return f"argument en trop : {_shown(extra['args'])}"
    return message


def _missing(param: Parameter | None) -> str:
    if param is None:
        return "paramètre manquant"
    if isinstance(param, TyperArgument):
        missing = f"argument manquant : {value_name(param)}"
    else:
        missing = f"option obligatoire manquante : {_param_label(param)}"
    choices = _choices(param)
    return missing + (f" ({choices})" if choices else "")


def _param_label(param: Parameter | None) -> str:
    if param is None:
        return "un paramètre"
    if isinstance(param, TyperArgument):
        return value_name(param)
    return param.opts[0] if param.opts else value_name(param)


def _choices(param: Parameter | None) -> str:
    if not isinstance(param, TyperArgument | TyperOption):
        return ""
    choices = param.type_descriptor.choices
    return f"au choix : {', '.join(choice_text(c) for c in choices)}" if choices else ""


def _refusal(exc: BadParameter) -> str:
    """Why typer refused the value: the parameter's choices, pydantic's error kind, a path
    check; else the message as given (the hub's own, French)."""
    cause = exc.__cause__
    choices = _choices(exc.param)
    if isinstance(cause, ValidationError) and cause.errors():
        error = cause.errors()[0]
        given = f"« {_shown(str(error.get('input', '')))} »"
        if choices:
            return f"{given} ({choices})"
        kind = error["type"]
        if kind in _VALUE_KINDS:
            return f"{given} n'est pas {_VALUE_KINDS[kind]}"
        if kind in _BOUNDS:
            key, words = _BOUNDS[kind]
            return f"{given} : il faut {words} {error.get('ctx', {}).get(key, '?')}"
        return f"{given} n'est pas une valeur acceptée ici"
    for pattern, french in _PATH_PROBLEMS:
        if found := pattern.match(exc.message):
            return french.format(path=_shown(found["path"], keep_end=True))
    if found := _NOT_VALID.match(exc.message):
        return f"« {_shown(found['value'].strip(chr(39)))} » n'est pas une valeur acceptée ici"
    if exc.message == "Value must be an iterable.":
        return "plusieurs valeurs sont attendues"
    if choices:
        return choices
    return exc.message


def _shown(value: str, *, keep_end: bool = False) -> str:
    """``value`` on one line, cut to ``SHOWN_VALUE_CHARS`` (a path keeps its end: the file's
    name says more than the folders above it)."""
    flat = " ".join(value.split())
    if len(flat) <= SHOWN_VALUE_CHARS:
        return flat
    if keep_end:
        return "…" + flat[-(SHOWN_VALUE_CHARS - 1) :]
    return flat[: SHOWN_VALUE_CHARS - 1] + "…"
