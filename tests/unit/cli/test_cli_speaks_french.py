"""Every ``hub`` command speaks French to the operator (issue 22, finding 7): its ``--help``,
and its answer to a mistyped command line (unknown option, missing argument, refused value).

The commands are enumerated from the typer app, the plugins' included, so a command added
later is checked too. A mistake is answered in ONE line on stderr, exit 2, no traceback,
nothing on stdout. Command and option names (``list``, ``--json``) and choice values are
syntax the operator types: they stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import french_screens
import pytest
import typer
from typer._click.core import Command
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command
from typer.testing import CliRunner, Result

from hub.cli.app import app
from hub.cli.context import BAD_INPUT
from hub.cli.french_help import ARGUMENT_NAMES, choice_text

runner = CliRunner()

TRACEBACK = "Traceback (most recent call last)"


def _tree(
    command: Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Command]]:
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _tree(sub, (*path, name))


ROOT = get_command(app)
PATHS = dict(_tree(ROOT))
SYNTAX = {name for path in PATHS for name in path} | {
    text
    for command in PATHS.values()
    for param in command.params
    if isinstance(param, TyperArgument | TyperOption)
    for text in (choice_text(c) for c in param.type_descriptor.choices or ())
}
"""Command names and choice values: what the operator types, shown as typed."""


def english_left(screen: str) -> list[str]:
    """English words on ``screen``; command names and choice values are the operator's syntax."""
    return french_screens.english_left(screen, SYNTAX)


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), prog_name="hub", env={"COLUMNS": "100"})


def _ids(paths: list[tuple[str, ...]]) -> list[str]:
    return [" ".join(("hub", *path)) for path in paths]


ALL = list(PATHS)
WITH_REQUIRED = [
    path
    for path, command in PATHS.items()
    if any(p.required for p in command.params)
    or (isinstance(command, TyperGroup) and not command.invoke_without_command)
]


def test_the_commands_are_found_plugins_included() -> None:
    assert {("case", "show"), ("prefecture", "answer"), ("topics", "list"), ()} <= set(PATHS)
    assert len(PATHS) > 50


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_help_is_french(path: tuple[str, ...]) -> None:
    shown = invoke(*path, "--help")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"Utilisation : {' '.join(('hub', *path))} "), shown.stdout
    assert english_left(shown.stdout) == [], shown.stdout
    assert "Afficher cette aide et quitter." in shown.stdout
    assert "Commandes" in shown.stdout or not isinstance(PATHS[path], TyperGroup)


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_an_unknown_option_is_one_french_line(path: tuple[str, ...]) -> None:
    refused = invoke(*path, "--pas-une-option")
    _one_french_line(refused)
    assert "option inconnue : --pas-une-option" in refused.stderr
    assert f"`{' '.join(('hub', *path))} --help`" in refused.stderr


@pytest.mark.parametrize("path", WITH_REQUIRED, ids=_ids(WITH_REQUIRED))
def test_a_missing_argument_is_one_french_line(path: tuple[str, ...]) -> None:
    refused = invoke(*path)
    command = PATHS[path]
    if isinstance(command, TyperGroup) and command.no_args_is_help:
        # A group called alone shows its (French) help, as `git` does, and fails.
        assert refused.exit_code == BAD_INPUT
        assert refused.stdout.startswith("Utilisation :"), refused.output
        assert english_left(refused.output) == [], refused.output
        assert TRACEBACK not in refused.output
        return
    _one_french_line(refused)
    assert "manquant" in refused.stderr, refused.stderr


def _one_french_line(result: Result) -> None:
    assert result.exit_code == BAD_INPUT, result.output
    assert TRACEBACK not in result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("erreur : "), lines
    assert english_left(lines[0]) == [], lines


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["prefecture", "answer", "abcd", "--as", "wizard", "--db", "x", "--agency", "p"],
            "valeur refusée pour --as : « wizard » (au choix : receipt, granted, refused",
        ),
        (
            ["broker", "--port", "x"],
            "valeur refusée pour --port : « x » n'est pas un nombre entier",
        ),
        (
            ["broker", "--port", "70000"],
            "valeur refusée pour --port : « 70000 » : il faut au plus 65535",
        ),
        (["topics", "lst"], "commande inconnue : « lst » ; vouliez-vous dire list ?"),
        (["topics", "list", "--agency"], "l'option --agency attend une valeur"),
        (["case", "show", "a", "b"], "argument en trop : b"),
        (["keys", "show-public", "/nonexistent/key.pem"], "illisible, fichier introuvable"),
        (["replay"], "argument manquant : DOSSIER"),
        (["prefecture", "answer", "abcd"], "option obligatoire manquante : --as"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_each_kind_of_mistake_is_said_in_french(args: list[str], said: str) -> None:
    refused = invoke(*args)
    _one_french_line(refused)
    assert said in refused.stderr, refused.stderr


def test_a_path_that_must_exist_is_said_in_french(tmp_path: Path) -> None:
    probe = typer.Typer(cls=type(ROOT))

    @probe.command()
    def read(source: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
        pass

    @probe.command()
    def other() -> None:
        pass

    missing = runner.invoke(probe, ["read", str(tmp_path / "absent.yaml")], prog_name="hub")
    _one_french_line(missing)
    assert "valeur refusée pour CHEMIN : « " in missing.stderr
    assert "absent.yaml » n'existe pas" in missing.stderr
    folder = runner.invoke(probe, ["read", str(tmp_path)], prog_name="hub")
    _one_french_line(folder)
    assert "» est un répertoire" in folder.stderr


def test_a_refused_value_is_echoed_short_on_one_line() -> None:
    refused = invoke("broker", "--port", "1\n2" + "9" * 200)
    _one_french_line(refused)
    assert "…" in refused.stderr


def test_every_argument_has_a_french_name() -> None:
    """An argument is shown by its metavar or its name in ``ARGUMENT_NAMES``; a new argument
    named in English (``key_id``) would otherwise reach the operator as ``KEY_ID``."""
    unnamed = {
        f"{' '.join(path)}: {param.name}"
        for path, command in PATHS.items()
        for param in command.params
        if isinstance(param, TyperArgument)
        and not param.metavar
        and param.name not in ARGUMENT_NAMES
    }
    assert unnamed == set()


def test_the_detector_can_fail() -> None:
    assert english_left("Usage: hub case show [OPTIONS] CASE") == ["usage"]
    assert english_left("Show this message and exit.") == ["and", "exit", "show", "this"]
    assert english_left("Missing argument 'request_id'.") == ["missing"]
    assert english_left("Utilisation : hub case show [OPTIONS] DOSSIER") == []


def test_an_interrupted_confirmation_is_one_french_line() -> None:
    probe = typer.Typer(cls=type(ROOT))

    @probe.command()
    def ask() -> None:
        raise typer.Abort()

    @probe.command()
    def other() -> None:
        pass

    result = runner.invoke(probe, ["ask"])
    assert result.exit_code == 1
    assert result.stderr.startswith("erreur : interrompu"), result.output
    assert english_left(result.output) == []


def test_topics_list_describes_every_topic_in_french() -> None:
    from hub.contracts.topics import all_topics

    shown = invoke("topics", "list", "--agency", "police-93")
    assert shown.exit_code == 0, shown.output
    specs = all_topics(["police-93"])
    assert all(spec.summary for spec in specs), [s.name for s in specs if not s.summary]
    for spec in specs:
        assert spec.summary.split()[0] in shown.stdout
    screen = shown.stdout
    for spec in specs:
        screen = screen.replace(spec.name, " ")
    assert english_left(screen) == [], shown.stdout
    assert "publishes" not in shown.stdout
