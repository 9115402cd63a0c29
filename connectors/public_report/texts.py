"""What the public page says, in French (the default) and English, and the lists it offers:
the départements (checked against ``regions.yaml``) and the forms of exploitation of the
shared grid (``ExploitationType``)."""

from __future__ import annotations

from typing import Final, Literal

from hub.contracts.enums import ExploitationType

Lang = Literal["fr", "en"]
LANGS: Final[tuple[Lang, ...]] = ("fr", "en")

TEXTS: Final[dict[Lang, dict[str, str]]] = {
    "fr": {
        "title": "Signaler une situation d'exploitation ou de traite",
        "switch": "English",
        "danger_banner": "Danger immédiat ? Appelez tout de suite le 17 (police) ou le 112. "
        "Par SMS : 114. Ce formulaire n'est pas lu en temps réel.",
        "intro": "Vous avez vu ou entendu quelque chose qui ressemble à de l'exploitation "
        "(travail forcé, exploitation sexuelle, servitude domestique, mendicité ou "
        "délinquance forcées...) ? Signalez-le ici. Une cellule nationale lit chaque "
        "signalement et le transmet, s'il y a lieu, aux autorités compétentes.",
        "duty": "Si un enfant ou une personne vulnérable est maltraité, la loi impose d'en "
        "informer les autorités (Code pénal, art. 434-3).",
        "privacy": "Nous n'enregistrons ni votre adresse IP ni votre navigateur. Vous pouvez "
        "rester anonyme.",
        "q_danger": "Quelqu'un est-il en danger immédiat ?",
        "yes": "Oui",
        "no": "Non",
        "danger_now": "Appelez le 17 ou le 112 maintenant, avant de remplir ce formulaire.",
        "q_seen": "Qu'avez-vous vu ou entendu ?",
        "q_departement": "Dans quel département ?",
        "choose": "Choisir...",
        "q_place": "Où plus précisément ? (ville, rue, lieu de travail) — facultatif",
        "q_forms": "Quel type d'exploitation pensez-vous avoir vu ? (facultatif)",
        "q_minor": "Un enfant (moins de 18 ans) semble concerné",
        "q_anonymous": "Je souhaite rester anonyme",
        "q_name": "Votre nom (facultatif)",
        "q_contact": "Téléphone ou e-mail pour vous recontacter (facultatif)",
        "honeypot": "Ne pas remplir ce champ",
        "send": "Envoyer le signalement",
        "sent_title": "Signalement envoyé",
        "sent_keep": "Gardez cette référence : elle vous permet de suivre votre signalement "
        "et d'y ajouter des informations. Nous ne pourrons pas vous la redonner.",
        "follow_title": "Suivre un signalement",
        "follow_link": "Suivre ou compléter un signalement",
        "q_reference": "Votre référence",
        "look": "Voir le suivi",
        "q_more": "Informations à ajouter",
        "add": "Ajouter ces informations",
        "added": "Vos informations ont été ajoutées au signalement.",
        "unknown_reference": "Référence inconnue. Vérifiez-la et réessayez.",
        "status_label": "État du signalement",
        "status_RECEIVED": "Reçu, en attente de lecture par la cellule.",
        "status_IN_REVIEW": "En cours d'examen par la cellule.",
        "status_MORE_INFORMATION": "La cellule aurait besoin de plus d'informations : "
        "ajoutez-les ci-dessous si vous le pouvez.",
        "status_DONE": "Traité par la cellule.",
        "err_seen": "Décrivez ce que vous avez vu.",
        "err_departement": "Choisissez un département de la liste.",
        "err_danger": "Dites si quelqu'un est en danger immédiat.",
        "err_long": "Un champ est trop long.",
        "err_contact_anonymous": "Vous avez choisi l'anonymat : ne donnez ni nom ni contact.",
        "refused": "Signalement refusé. Rechargez la page et réessayez.",
        "too_many": "Trop d'envois depuis votre connexion. Réessayez plus tard.",
        "too_large": "Envoi trop volumineux.",
        "unavailable": "Service momentanément indisponible. Réessayez plus tard ; en cas "
        "de danger, appelez le 17 ou le 112.",
        "back": "Nouveau signalement",
    },
    "en": {
        "title": "Report a situation of exploitation or trafficking",
        "switch": "Français",
        "danger_banner": "Immediate danger? Call 17 (police) or 112 now. By text message: "
        "114. This form is not read in real time.",
        "intro": "Have you seen or heard something that looks like exploitation (forced "
        "labour, sexual exploitation, domestic servitude, forced begging or crime...)? "
        "Report it here. A national unit reads every report and passes it on, where "
        "needed, to the competent authorities.",
        "duty": "If a child or a vulnerable person is being mistreated, French law requires "
        "you to inform the authorities (Code pénal, art. 434-3).",
        "privacy": "We record neither your IP address nor your browser. You may stay anonymous.",
        "q_danger": "Is anyone in immediate danger?",
        "yes": "Yes",
        "no": "No",
        "danger_now": "Call 17 or 112 now, before filling in this form.",
        "q_seen": "What did you see or hear?",
        "q_departement": "In which département?",
        "choose": "Choose...",
        "q_place": "Where exactly? (town, street, workplace) — optional",
        "q_forms": "What kind of exploitation do you think you saw? (optional)",
        "q_minor": "A child (under 18) seems to be involved",
        "q_anonymous": "I want to stay anonymous",
        "q_name": "Your name (optional)",
        "q_contact": "Phone or e-mail to reach you (optional)",
        "honeypot": "Leave this field empty",
        "send": "Send the report",
        "sent_title": "Report sent",
        "sent_keep": "Keep this reference: it lets you follow your report and add "
        "information to it. We cannot give it to you again.",
        "follow_title": "Follow a report",
        "follow_link": "Follow or add to a report",
        "q_reference": "Your reference",
        "look": "See the status",
        "q_more": "Information to add",
        "add": "Add this information",
        "added": "Your information was added to the report.",
        "unknown_reference": "Unknown reference. Check it and try again.",
        "status_label": "Status of the report",
        "status_RECEIVED": "Received, waiting to be read by the unit.",
        "status_IN_REVIEW": "Being examined by the unit.",
        "status_MORE_INFORMATION": "The unit would need more information: add it below if you can.",
        "status_DONE": "Dealt with by the unit.",
        "err_seen": "Describe what you saw.",
        "err_departement": "Choose a département from the list.",
        "err_danger": "Say whether anyone is in immediate danger.",
        "err_long": "A field is too long.",
        "err_contact_anonymous": "You chose to stay anonymous: give neither name nor contact.",
        "refused": "Report refused. Reload the page and try again.",
        "too_many": "Too many submissions from your connection. Try again later.",
        "too_large": "Submission too large.",
        "unavailable": "Service unavailable for a moment. Try again later; in danger, call "
        "17 or 112.",
        "back": "New report",
    },
}

FORMS: Final[dict[ExploitationType, dict[Lang, str]]] = {
    ExploitationType.LABOUR: {"fr": "Travail forcé", "en": "Forced labour"},
    ExploitationType.SEXUAL: {"fr": "Exploitation sexuelle", "en": "Sexual exploitation"},
    ExploitationType.DOMESTIC_SERVITUDE: {
        "fr": "Servitude domestique",
        "en": "Domestic servitude",
    },
    ExploitationType.FORCED_BEGGING: {"fr": "Mendicité forcée", "en": "Forced begging"},
    ExploitationType.FORCED_CRIMINALITY: {
        "fr": "Délinquance forcée",
        "en": "Forced criminality",
    },
    ExploitationType.FORCED_MARRIAGE: {"fr": "Mariage forcé", "en": "Forced marriage"},
    ExploitationType.ORGAN_REMOVAL: {"fr": "Prélèvement d'organes", "en": "Organ removal"},
    ExploitationType.OTHER: {"fr": "Autre", "en": "Other"},
}

DEPARTEMENT_NAMES: Final[dict[str, str]] = {
    "01": "Ain", "02": "Aisne", "03": "Allier", "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes", "06": "Alpes-Maritimes", "07": "Ardèche", "08": "Ardennes",
    "09": "Ariège", "10": "Aube", "11": "Aude", "12": "Aveyron", "13": "Bouches-du-Rhône",
    "14": "Calvados", "15": "Cantal", "16": "Charente", "17": "Charente-Maritime",
    "18": "Cher", "19": "Corrèze", "2A": "Corse-du-Sud", "2B": "Haute-Corse",
    "21": "Côte-d'Or", "22": "Côtes-d'Armor", "23": "Creuse", "24": "Dordogne",
    "25": "Doubs", "26": "Drôme", "27": "Eure", "28": "Eure-et-Loir", "29": "Finistère",
    "30": "Gard", "31": "Haute-Garonne", "32": "Gers", "33": "Gironde", "34": "Hérault",
    "35": "Ille-et-Vilaine", "36": "Indre", "37": "Indre-et-Loire", "38": "Isère",
    "39": "Jura", "40": "Landes", "41": "Loir-et-Cher", "42": "Loire", "43": "Haute-Loire",
    "44": "Loire-Atlantique", "45": "Loiret", "46": "Lot", "47": "Lot-et-Garonne",
    "48": "Lozère", "49": "Maine-et-Loire", "50": "Manche", "51": "Marne",
    "52": "Haute-Marne", "53": "Mayenne", "54": "Meurthe-et-Moselle", "55": "Meuse",
    "56": "Morbihan", "57": "Moselle", "58": "Nièvre", "59": "Nord", "60": "Oise",
    "61": "Orne", "62": "Pas-de-Calais", "63": "Puy-de-Dôme", "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées", "66": "Pyrénées-Orientales", "67": "Bas-Rhin", "68": "Haut-Rhin",
    "69": "Rhône", "70": "Haute-Saône", "71": "Saône-et-Loire", "72": "Sarthe",
    "73": "Savoie", "74": "Haute-Savoie", "75": "Paris", "76": "Seine-Maritime",
    "77": "Seine-et-Marne", "78": "Yvelines", "79": "Deux-Sèvres", "80": "Somme",
    "81": "Tarn", "82": "Tarn-et-Garonne", "83": "Var", "84": "Vaucluse", "85": "Vendée",
    "86": "Vienne", "87": "Haute-Vienne", "88": "Vosges", "89": "Yonne",
    "90": "Territoire de Belfort", "91": "Essonne", "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
    "971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion",
    "976": "Mayotte",
}  # fmt: skip
"""INSEE names; the page offers only the codes ``regions.yaml`` knows (Mayotte: if listed)."""


def lang_of(value: str | None) -> Lang:
    """The page's language: English when asked, French otherwise."""
    return "en" if value == "en" else "fr"
