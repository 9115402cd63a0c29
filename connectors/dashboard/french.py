"""French labels and formats for the dashboard: dates in Europe/Paris, durations, enum names.

The users are French agencies: every date reads like ``20 nov. 2026 09:30`` in Paris time,
every duration like ``3 j 4 h``, and every machine symbol (a role, a ladder step, a dead-letter
reason) has a French label. Unknown symbols fall back to the symbol itself, never to an error:
a schema that gains an enum value must not break the operators' page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from hub.rules.working_days import PARIS

MONTHS: Final = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)

ROLES: Final[Mapping[str, str]] = {
    "POLICE_GENDARMERIE": "Police / gendarmerie",
    "LABOUR_INSPECTORATE": "Inspection du travail",
    "PREFECTURE": "Préfecture",
    "ACCOMMODATION_PROVIDER": "Hébergement",
    "SUPPORT_ASSOCIATION": "Association d'accompagnement",
    "CHILD_PROTECTION": "Protection de l'enfance",
    "JUVENILE_PROSECUTOR": "Parquet des mineurs",
    "HEALTH": "Santé",
    "EDUCATION": "Éducation",
    "SOCIAL_SERVICES": "Services sociaux",
    "UNION": "Syndicat",
    "JUSTICE": "Justice",
    "NATIONAL_COORDINATION": "Coordination nationale",
    "OBSERVATORY": "Observatoire",
    "HUB": "Hub",
    "UNKNOWN": "Inconnu",
}

LADDER_STEPS: Final[Mapping[str, str]] = {
    "REMINDER": "Rappel",
    "SUPERVISOR": "Superviseur",
    "NATIONAL_COORDINATION": "Coordination nationale",
    "UNKNOWN": "Inconnu",
}

NEEDS: Final[Mapping[str, str]] = {
    "IDENTIFICATION": "Identification",
    "ACCOMMODATION": "Hébergement",
    "SUPPORT": "Accompagnement",
    "PERMIT": "Titre de séjour",
    "TRIAGE": "Tri d'un signalement du public",
    "UNKNOWN": "Inconnu",
}

URGENCIES: Final[Mapping[str, str]] = {
    "ROUTINE": "ordinaire",
    "URGENT": "urgent",
    "IMMEDIATE_DANGER": "danger immédiat",
    "UNKNOWN": "urgence inconnue",
}

MESSAGE_TYPES: Final[Mapping[str, str]] = {
    "fr.nrm.PresumedVictimReport": "Signalement de victime présumée",
    "fr.nrm.IdentificationDecision": "Décision d'identification",
    "fr.nrm.ReferralOpened": "Orientation ouverte",
    "fr.nrm.AccommodationRequested": "Demande d'hébergement",
    "fr.nrm.SupportRequested": "Demande d'accompagnement",
    "fr.nrm.PermitRequested": "Demande de titre de séjour",
    "fr.nrm.Acknowledgement": "Réponse à une demande",
    "fr.nrm.ConsentGiven": "Consentement donné",
    "fr.nrm.ConsentWithdrawn": "Consentement retiré",
    "fr.nrm.SafetyFlagsSet": "Consignes de sécurité",
    "fr.nrm.Escalation": "Escalade",
    "fr.nrm.CaseClosed": "Clôture du dossier",
    "reflection_period_end": "Fin du délai de réflexion",
    "conclusive_decision": "Décision d'identification définitive",
    "parents_informed": "Information des parents",
}

DEAD_LETTER_REASONS: Final[Mapping[str, str]] = {
    "CORRUPT_FRAME": "Message illisible (trame corrompue)",
    "UNKNOWN_SCHEMA_ID": "Schéma inconnu",
    "SCHEMA_VIOLATION": "Champ invalide",
    "SEMANTIC_VIOLATION": "Message incohérent",
    "SPOOFED_SENDER": "Expéditeur usurpé",
    "OVERSIZE": "Message trop volumineux",
    "NO_ELIGIBLE_RECIPIENT": "Aucun destinataire éligible",
    "BAD_SIGNATURE": "Signature invalide",
    "STALE_SIGNATURE": "Signature périmée",
    "REPLAYED": "Message rejoué",
    "NOT_AN_IDENTIFYING_AUTHORITY": "Pas une autorité d'identification",
    "INVALID_TRANSITION": "Transition invalide",
    "UNKNOWN_REQUEST": "Demande inconnue",
    "WRONG_RESPONDER": "Réponse d'un autre organisme",
    "PROCESSING_ERROR": "Erreur de traitement du hub",
    "DELIVERY_FAILED": "Échec de livraison",
    "UNKNOWN_INDICATOR": "Indicateur hors de la grille commune",
    "INDICATOR_FORM_MISMATCH": "Indicateur incompatible avec la forme d'exploitation",
    "NOT_IN_PERMIT_ROUTE": "Hors du parcours titre de séjour (UE, EEE, Suisse, France)",
    "NOT_CHOSEN": "Non choisi par la personne",
    "UNKNOWN": "Raison inconnue",
}

ORPHAN_REASONS: Final[Mapping[str, str]] = {
    "ALL_DECLINED": "Refusé par tous les organismes éligibles",
    "NO_ELIGIBLE_AGENCY": "Aucun organisme éligible",
    "PAST_LAST_STEP": "Sans réponse après la dernière relance",
    "UNKNOWN": "Raison inconnue",
}

AUDIT_ACTIONS: Final[Mapping[str, str]] = {
    "RECEIVED": "Reçu",
    "ROUTED": "Transmis",
    "HELD": "Retenu (consentement)",
    "RELEASED": "Libéré",
    "CANCELLED": "Annulé",
    "REFUSED": "Refusé",
    "DEAD_LETTERED": "Lettre morte",
    "DELIVERED": "Livré",
    "ACKNOWLEDGED": "Réponse reçue",
    "ESCALATED": "Escaladé",
    "CONSENT_RECORDED": "Consentement enregistré",
    "CONSENT_WITHDRAWN": "Consentement retiré",
    "CASE_TRANSITION": "Changement d'étape",
    "ERASED": "Données effacées",
    "UNKNOWN": "Inconnu",
}

DATA_CATEGORIES: Final[Mapping[str, str]] = {
    "IDENTITY": "Identité",
    "CONTACT": "Coordonnées",
    "HEALTH": "Santé",
    "IMMIGRATION_STATUS": "Situation administrative",
    "EXPLOITATION_DETAILS": "Faits d'exploitation",
    "MINOR": "Minorité",
    "UNKNOWN": "Inconnue",
}

VERIFICATION_PROBLEMS: Final[Mapping[str, str]] = {
    "BREAK": "Chaînage rompu ou empreinte altérée",
    "GAP": "Entrées manquantes dans la séquence",
    "REORDER": "Entrées dans le désordre",
    "FORK": "Deux histoires différentes (fourche)",
    "CORRUPT": "Entrée illisible",
    "MISPLACED": "Entrée rangée sous un autre dossier",
    "MISSING": "Entrée disparue du journal",
    "TRUNCATED": "Fin de chaîne supprimée",
    "UNPROVEN": "Entrée non signée par le hub (ignorée)",
}


def label(labels: Mapping[str, str], symbol: object) -> str:
    """The French label of an enum symbol (or of its ``.value``); the symbol if unknown."""
    key = str(getattr(symbol, "value", symbol))
    return labels.get(key, key)


def format_datetime(instant: datetime) -> str:
    """``20 nov. 2026 09:30``, in Europe/Paris (a naive instant is taken as UTC)."""
    local = _paris(instant)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {local:%H:%M}"


def format_date(instant: datetime) -> str:
    """``20 nov. 2026``, in Europe/Paris."""
    local = _paris(instant)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}"


def format_time(instant: datetime) -> str:
    """``09:30:05``, in Europe/Paris (for "mis à jour à ...")."""
    return f"{_paris(instant):%H:%M:%S}"


def iso_paris(instant: datetime) -> str:
    """The ISO 8601 instant with the Paris offset, for ``<time datetime=...>``."""
    return _paris(instant).isoformat(timespec="seconds")


def _paris(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(PARIS)


def format_duration(duration: timedelta) -> str:
    """A short duration: ``3 j 4 h``, ``2 h 05 min``, ``12 min``, ``moins d'une minute``.

    Negative durations are shown as their absolute value (callers say which way it goes).
    """
    minutes = int(abs(duration.total_seconds())) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return "moins d'une minute"


def late_by(duration: timedelta) -> str:
    """``En retard de 3 j 4 h``."""
    return f"En retard de {format_duration(duration)}"


def held_for(duration: timedelta) -> str:
    """``Depuis 2 j 3 h``."""
    return f"Depuis {format_duration(duration)}"


def format_seconds(seconds: float | None) -> str:
    """A measured delay (acknowledgement times): ``1 j 2 h``, ``45 min``, ``12 s``, or ``—``."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{int(seconds)} s"
    return format_duration(timedelta(seconds=seconds))


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 demande``, ``3 demandes`` (French: 0 and 1 take the singular)."""
    word = singular if count <= 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


OPERATOR_ROLES: Final[Mapping[str, str]] = {
    "NATIONAL_COORDINATION": "Coordination nationale",
    "REGIONAL_COORDINATION": "Coordination régionale",
    "AUDITOR": "Audit (lecture seule)",
    "DATA_PROTECTION_OFFICER": "Protection des données (DPO)",
}


def operator_role(role: str, region: str | None = None) -> str:
    """« Coordination régionale IDF », « Audit (lecture seule) »… for the page header."""
    label = OPERATOR_ROLES.get(role, role)
    return f"{label} {region}" if region else label
