"""Which dead letters a re-drive can help: the hub's policy, one pure function.

The CLI and the dashboard apply it to offer « Relancer »; the worker applies it again to every
re-drive it reads (``hub/flow/redrives.py``), so a re-drive written straight to the topic
gets no further than one offered by a screen.

A re-drive hands the dead letter's original bytes, key and headers back to ingest as they
arrived (``agents/redrive.py``): the same signature is checked as at first arrival, the same
bytes decoded. So a re-drive helps only when something outside the record can change —
the directory (a missing agency, key or role), the schema registry, the configuration, a
fixed bug in the hub, a later event that makes an early one valid, a recipient's webhook.
When the record itself is at fault (forged, unsigned or altered, corrupt, stale, replayed,
answered by an agency that was never asked) the same bytes fail the same way: offering
« Relancer » would only add a second dead letter, and a forged record must never be
pushed through again by an operator's click.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from hub.contracts.enums import DeadLetterReason


class Original(StrEnum):
    """What a dead letter still holds of the refused record."""

    WHOLE = "whole"
    CUT = "cut"
    """Only its first part: ingest cuts an oversize original to fit the dead letter."""
    NOT_KEPT = "not-kept"
    """Nothing: the case's key was destroyed before the letter was written (erasure)."""


NEVER_REDRIVEN: Final[dict[DeadLetterReason, str]] = {
    DeadLetterReason.BAD_SIGNATURE: (
        "la signature ne vérifie pas (message non signé, altéré ou forgé) : "
        "l'organisme doit renvoyer un message signé"
    ),
    DeadLetterReason.STALE_SIGNATURE: (
        "la signature est hors de sa fenêtre de validité, vérifiée comme à l'arrivée : "
        "l'organisme doit renvoyer le message"
    ),
    DeadLetterReason.CORRUPT_FRAME: (
        "les octets reçus sont illisibles : les relancer redonne la même erreur"
    ),
    DeadLetterReason.REPLAYED: (
        "le message a déjà été traité (rejeu) : le relancer serait un doublon"
    ),
    DeadLetterReason.WRONG_RESPONDER: (
        "la réponse vient d'un organisme qui n'a pas été sollicité : "
        "seul le destinataire de la demande peut répondre"
    ),
    # The prefecture is also the removal authority: a permit request for a French, EU, EEA
    # or Swiss national is never pushed through by a click (CESEDA L110-4, L231-1).
    DeadLetterReason.NOT_IN_PERMIT_ROUTE: (
        "la personne n'est pas dans le parcours du titre de séjour (nationalité française, "
        "de l'UE, de l'EEE ou suisse) : enregistrer un nouveau choix sans titre de séjour"
    ),
}
"""Reasons whose dead letters a re-drive can never fix, with what to tell the operator."""

FORGED_ENVELOPE = (
    "l'expéditeur est usurpé (le message se dit d'un autre organisme que celui dont il "
    "vient) : un message forgé n'est jamais relancé"
)
NOT_FROM_HUB = (
    "la lettre morte n'est pas signée par le hub : quelqu'un d'autre l'a écrite, "
    "elle n'est jamais relancée"
)
FROM_A_REDRIVE = (
    "c'est une relance refusée, pas un message d'organisme : "
    "relancer la lettre morte d'origine une fois sa cause corrigée"
)
ORIGINAL_GONE: Final[dict[Original, str]] = {
    Original.CUT: (
        "le message d'origine a été tronqué à la mise en lettre morte : "
        "ses octets ne peuvent plus être vérifiés ni décodés"
    ),
    Original.NOT_KEPT: (
        "le message d'origine n'a pas été conservé (données du dossier effacées) : "
        "il n'y a plus rien à relancer"
    ),
}


def forged_envelope(claimed_sender: str | None, outbox_owner: str | None) -> bool:
    """Whether the record named a sender other than the agency whose outbox it came from."""
    return claimed_sender is not None and claimed_sender != outbox_owner


def redrive_refusal(
    reason: DeadLetterReason,
    *,
    hub_signed: bool,
    original: Original = Original.WHOLE,
    forged: bool = False,
    from_redrive: bool = False,
) -> str | None:
    """Why re-driving a dead letter of ``reason`` cannot help (French, for operators), or
    None when a fix outside the record (directory, schema, configuration, hub) can make the
    same bytes pass.

    ``hub_signed``: whether the hub's signature proves it wrote the letter (anyone who can
    produce to ``nrm.deadletters`` could write one, back-dated, holding a forged original).
    ``from_redrive``: the letter refused a re-drive itself (its source is ``nrm.redrive``);
    the letter to re-drive is the original one. ``original`` says what the letter still
    holds: a cut original can never verify again, and an original not kept (the case was
    erased) leaves nothing to re-drive. ``forged`` is ``forged_envelope(...)``:
    SPOOFED_SENDER covers two cases, a record from an outbox that no agency of the directory
    owned yet (adding the agency fixes it: offered) and a record that names another agency
    than the outbox's owner (a forgery: never).
    """
    if not hub_signed:
        return NOT_FROM_HUB
    if from_redrive:
        return FROM_A_REDRIVE
    refusal = NEVER_REDRIVEN.get(reason)
    if refusal is not None:
        return refusal
    if reason is DeadLetterReason.SPOOFED_SENDER and forged:
        return FORGED_ENVELOPE
    return ORIGINAL_GONE.get(original)
