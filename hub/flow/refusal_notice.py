"""The refusal notice: what the hub tells an agency when it refuses a record of its outbox.

The notice goes to the **owner of the outbox** the record was read from, the one sender the
hub can name without trusting the record: over Kafka the agency writes its own outbox, through
the gateway the gateway writes it for the agency its token proved. A record whose signature did
not verify is notified too (``authenticated`` false): the owner should know that someone
writes on its outbox. An outbox no agency of the directory owns has no inbox, so nobody is
notified (operators see the dead letter). Dead letters of the hub's own deliveries
(``DELIVERY_FAILED``, a webhook that stays down) are not refusals of a sender's record and
get no notice: one would go to the very inbox that cannot be delivered.

Nothing in a notice is copied from the refused record but its ids and position: the detail is
chosen from a fixed French text per reason, so no personal data can leak into it (the dead
letter's own detail may quote fields of the record and stays with operators).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from hub.contracts.enums import AgencyRole, DeadLetterReason
from hub.contracts.envelope import (
    Envelope,
)
from hub.contracts.events import (
    RefusalNotice,
)
from hub.contracts.hub_records import (
    DeadLetter,
)
from hub.contracts.topics import agency_of_outbox
from hub.flow.decisions import Deliver
from hub.rules.directory import Agency, Directory

REFUSAL_NOTICE: Final = "fr.nrm.RefusalNotice"
NOTICE_NAMESPACE: Final = uuid.UUID("5b3f0c8e-2d4a-4f7e-9a61-72656675736c")
NO_CASE: Final = uuid.UUID(int=0)
"""The case id of a notice about a record whose case could not be read."""

NOT_NOTIFIED: Final = frozenset({DeadLetterReason.DELIVERY_FAILED})
"""Dead letters of the hub's own deliveries, not refusals of an agency's record."""

WHAT_IT_MEANS: Final[dict[DeadLetterReason, str]] = {
    DeadLetterReason.UNKNOWN: "Le hub a refusé ce message pour une raison non classée.",
    DeadLetterReason.CORRUPT_FRAME: "Le message n'est pas un enregistrement Avro encadré "
    "(0x00, identifiant de schéma, binaire) : il n'a pas pu être lu.",
    DeadLetterReason.UNKNOWN_SCHEMA_ID: "Le message cite un identifiant de schéma que le "
    "registre du hub ne connaît pas.",
    DeadLetterReason.SCHEMA_VIOLATION: "Le message ne respecte pas son schéma (champ manquant, "
    "valeur hors des valeurs permises).",
    DeadLetterReason.SEMANTIC_VIOLATION: "Le message est lisible mais contraire aux règles du "
    "hub (clé ou partition autre que l'identifiant du dossier, type réservé au hub, "
    "contenu incohérent).",
    DeadLetterReason.SPOOFED_SENDER: "Le message se présente comme venant d'un autre "
    "expéditeur que le propriétaire de cette boîte d'envoi.",
    DeadLetterReason.OVERSIZE: "Le message dépasse la taille maximale acceptée.",
    DeadLetterReason.NO_ELIGIBLE_RECIPIENT: "Aucun destinataire éligible n'a été trouvé pour "
    "ce message.",
    DeadLetterReason.BAD_SIGNATURE: "La signature du message est absente ou ne correspond à "
    "aucune clé de votre organisme dans l'annuaire.",
    DeadLetterReason.STALE_SIGNATURE: "La signature du message est trop ancienne ou datée du "
    "futur : vérifiez l'horloge de votre système.",
    DeadLetterReason.REPLAYED: "Le message reprend l'identifiant d'un message déjà reçu avec "
    "un contenu différent.",
    DeadLetterReason.NOT_AN_IDENTIFYING_AUTHORITY: "Seules les autorités d'identification "
    "(police, gendarmerie, inspection du travail) peuvent identifier formellement une victime.",
    DeadLetterReason.INVALID_TRANSITION: "Le message n'est pas possible à cette étape du dossier.",
    DeadLetterReason.UNKNOWN_REQUEST: "Le message répond à une demande que le hub ne connaît "
    "pas dans ce dossier : vérifiez l'identifiant de la demande (request_id).",
    DeadLetterReason.WRONG_RESPONDER: "Seul le destinataire de la demande peut y répondre.",
    DeadLetterReason.PROCESSING_ERROR: "Le hub n'a pas pu traiter ce message à cause d'une "
    "erreur interne ; la coordination nationale peut le réinjecter une fois corrigée.",
    DeadLetterReason.DELIVERY_FAILED: "Le hub n'a pas pu livrer un message.",
    DeadLetterReason.UNKNOWN_INDICATOR: "Le message contient un code d'indicateur qui n'est "
    "pas dans la grille commune : utilisez un code de la grille (le texte libre n'est pas "
    "accepté) ; le message pourra être réinjecté une fois la grille complétée.",
    DeadLetterReason.INDICATOR_FORM_MISMATCH: "Le message contient un indicateur propre à une "
    "forme d'exploitation qui ne figure pas parmi les formes déclarées : vérifiez les formes "
    "d'exploitation ou le code.",
    DeadLetterReason.NOT_IN_PERMIT_ROUTE: "La personne n'est pas dans le parcours du titre de "
    "séjour (nationalité française, de l'Union européenne, de l'EEE ou suisse) : aucune demande "
    "n'est adressée à la préfecture ; l'aide n'est pas concernée.",
    DeadLetterReason.NOT_CHOSEN: "Ce que le message demande n'a pas été choisi par la "
    "personne après information sur ses droits : enregistrez d'abord l'information, puis son "
    "choix.",
}
UNAUTHENTICATED: Final = (
    " Le hub n'a pas pu prouver que ce message vient de votre organisme : si votre système ne "
    "l'a pas écrit, quelqu'un écrit sur votre boîte d'envoi ; prévenez la coordination nationale."
)
NOTICE_BASIS: Final = "refusal notice to the outbox owner (no personal data)"
QUOTE_ID: Final = " Référence à donner à la coordination nationale : le dead_letter_id."


def notice_recipient(letter: DeadLetter, directory: Directory) -> Agency | None:
    """Who is told of ``letter``: the owner of the outbox it was read from, when the
    directory has it and the letter is a refusal of a sender's record."""
    if letter.reason in NOT_NOTIFIED:
        return None
    owner = agency_of_outbox(letter.source_topic)
    return directory.get(owner) if owner else None


def notice_detail(reason: DeadLetterReason, *, authenticated: bool) -> str:
    """The French explanation of ``reason``, from the fixed table only."""
    text = WHAT_IT_MEANS.get(reason, WHAT_IT_MEANS[DeadLetterReason.UNKNOWN])
    return text + ("" if authenticated else UNAUTHENTICATED) + QUOTE_ID


def refusal_notice(
    letter: DeadLetter, *, authenticated: bool, unnotified_before: int = 0
) -> RefusalNotice:
    """The notice of ``letter``. Its event id is derived from the dead letter's, so a refusal
    processed twice (a crash) gives the same notice, which clients drop as a repeat."""
    return RefusalNotice(
        envelope=Envelope(
            event_id=uuid.uuid5(NOTICE_NAMESPACE, str(letter.dead_letter_id)),
            case_id=letter.case_id or NO_CASE,
            occurred_at=letter.occurred_at,
            causation_id=letter.event_id,
            sender="hub",
            sender_role=AgencyRole.HUB,
        ),
        dead_letter_id=letter.dead_letter_id,
        refused_event_id=letter.event_id,
        reason=letter.reason,
        detail=notice_detail(letter.reason, authenticated=authenticated),
        source_topic=letter.source_topic,
        source_partition=letter.source_partition,
        source_offset=letter.source_offset,
        authenticated=authenticated,
        unnotified_before=unnotified_before,
    )


def notice_delivery(notice: RefusalNotice, recipient: Agency) -> Deliver:
    """The notice as a delivery to ``recipient``'s inbox, written like any projection."""
    record: dict[str, Any] = notice.model_dump()
    return Deliver(
        recipient=recipient,
        subject=REFUSAL_NOTICE,
        record=record,
        categories=frozenset(),
        basis=NOTICE_BASIS,
    )
