"""French labels of the monitoring figures (the committee reads French)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hub.rules.disclosure import TOTAL

SUPPRESSED: Final = "masqué"

TITLES: Final[Mapping[str, str]] = {
    "referrals_by_form": "Signalements par forme d'exploitation",
    "referrals_by_departement": "Signalements par département",
    "identification": "Issue de l'identification des dossiers ouverts",
    "deadlines_by_agency_kind": "Délais de réponse tenus, par type d'organisme",
    "needs": "Réponses en retard et besoins orphelins",
    "holds": "Partages retenus faute de consentement",
    "permits": "Titres de séjour et délais de réflexion",
    "delays": "Délais jusqu'aux décisions et aux réponses (jours)",
}

DEFINITIONS: Final[Mapping[str, str]] = {
    "referrals_by_form": "Dossiers ouverts dans la période (premier signalement ou orientation), "
    "par forme d'exploitation signalée (un dossier compte une fois par forme) et par semaine ou "
    "mois d'ouverture.",
    "referrals_by_departement": "Dossiers ouverts dans la période, par département du premier "
    "signalement et par semaine ou mois d'ouverture.",
    "identification": "Dossiers ouverts dans la période, selon leur état d'identification à la "
    "date du rapport (lu sur le cycle de vie du dossier).",
    "deadlines_by_agency_kind": "Demandes dont le délai de réponse s'est ouvert dans la période : "
    "réponse dans le délai, réponse en retard, ou délai échu sans réponse (celles dont le délai "
    "court encore ne sont pas comptées).",
    "needs": "Réponses en retard (comptées à leur échéance) et besoins orphelins signalés aux "
    "opérateurs, par semaine ou mois.",
    "holds": "Messages retenus faute de consentement, libérés par un consentement, et rétentions "
    "expirées, par semaine ou mois.",
    "permits": "Demandes de titre transmises aux préfectures, récépissés, titres accordés, refus, "
    "et délais de réflexion ouverts (remise du récépissé), par semaine ou mois.",
    "delays": "Médiane et 90e centile (rang le plus proche), en jours ; publiés seulement sur au "
    "moins autant de valeurs que le seuil de masquage.",
}

ROWS: Final[Mapping[str, str]] = {
    TOTAL: "Total",
    "CASES": "Dossiers",
    "UNKNOWN": "Non précisé",
    "LABOUR": "Travail",
    "SEXUAL": "Sexuelle",
    "FORCED_CRIMINALITY": "Contrainte à commettre des délits",
    "FORCED_BEGGING": "Mendicité forcée",
    "DOMESTIC_SERVITUDE": "Servitude domestique",
    "FORCED_MARRIAGE": "Mariage forcé",
    "ORGAN_REMOVAL": "Prélèvement d'organes",
    "OTHER": "Autre",
    "IDENTIFIED": "Identifiés",
    "NOT_IDENTIFIED": "Non identifiés",
    "PENDING": "En cours",
    "ON_TIME": "Dans le délai",
    "LATE": "En retard",
    "UNANSWERED": "Échu sans réponse",
    "OVERDUE": "Réponses en retard",
    "ORPHANED": "Besoins orphelins",
    "HELD": "Retenus",
    "RELEASED": "Libérés",
    "TIMED_OUT": "Rétention expirée",
    "REQUESTED": "Titres demandés",
    "RECEIPT": "Récépissés",
    "GRANTED": "Accordés",
    "REFUSED": "Refusés",
    "REFLECTION_PERIOD": "Délais de réflexion ouverts",
    "report_to_reasonable_grounds": "Signalement → motifs raisonnables",
    "report_to_conclusive": "Signalement → décision définitive",
    # agency kinds
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
}


def row(symbol: str) -> str:
    """A row or column label in French (``ack:PREFECTURE`` → ``Réponse : Préfecture``); a
    département, a week or a month as itself."""
    if symbol.startswith("ack:"):
        return "Première réponse : " + ROWS.get(symbol[4:], symbol[4:])
    return ROWS.get(symbol, symbol)


def count(value: int | None) -> str:
    """A published count, or « masqué »."""
    return SUPPRESSED if value is None else f"{value:,}".replace(",", "\u202f")


def decimal(value: float | None) -> str:
    """A number of days with a decimal comma, or « masqué »."""
    return SUPPRESSED if value is None else f"{value:.1f}".replace(".", ",")
