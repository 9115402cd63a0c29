"""`make demo`'s job end to end: `hub demo` runs the whole scenario, narrates each step,
stops everything it started and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HUB = str(Path(sys.executable).parent / "hub")
STEPS = (
    "1. Signalement et aide immédiate",
    "2. Motifs raisonnables",
    "3. Le choix de la personne",
    "4. Titre de séjour",
    "5. Un mineur",
    "6. Retrait du consentement",
    "7. Un message usurpé",
    "8. Un indicateur hors de la grille commune",
    "Vérification de la chaîne d'audit",
    "Demandes en retard",
    "Tableau de bord des opérateurs",
)


@pytest.mark.slow
def test_the_demo_plays_every_step_and_exits_zero() -> None:
    result = subprocess.run(
        [HUB, "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "100", "PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in STEPS:
        assert step in result.stdout, step
    assert "escalade nationale" in result.stdout
    assert "le délai de réflexion" in result.stdout  # the person's choice, in French
    assert "lettre morte SPOOFED_SENDER" in result.stdout
    narrated = " ".join(result.stdout.split())  # the console wraps long lines
    assert "ILO-FL-07 Confiscation des documents d'identité" in narrated
    assert "lettre morte UNKNOWN_INDICATOR" in narrated
    assert "indicator code 'TRAV-01' is not in the indicator grid" in narrated
    assert "association-93 est prévenue du refus" in narrated  # its refusal notice
    assert "OK" in result.stdout  # the chain verifies
    assert "tout ce qui a été démarré est arrêté" in result.stdout
