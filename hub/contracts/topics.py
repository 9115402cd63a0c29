"""Every topic the hub uses, declared once as data, and the names agencies' topics take.

Agencies each own an outbox (they write, the hub reads) and an inbox (the hub writes, they
read). The sending agency of a record is the outbox it was read from, never a payload field.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

DEFAULT_PARTITIONS = 4
OUTBOX_PREFIX = "nrm.outbox."
INBOX_PREFIX = "nrm.inbox."
AGENCY_PLACEHOLDER = "<agency>"
"""Stands for an agency id in a topic pattern (``nrm.inbox.<agency>``)."""


class TopicSpec(BaseModel, frozen=True):
    """One topic: its name, how many partitions, and why it exists. How long it keeps its
    records is the retention schedule's (``deploy/config/retention.yaml``)."""

    name: str
    partitions: int = Field(default=DEFAULT_PARTITIONS, ge=1)
    purpose: str
    summary: str = ""
    """What ``hub topics list`` shows an operator, in French; ``purpose`` is the developers'
    English (the AsyncAPI document). Every declared topic has one (tests/unit/contracts)."""
    compacted: bool = False


DIRECTORY = TopicSpec(
    name="nrm.directory",
    partitions=1,
    compacted=True,
    purpose="Agency directory changes, keyed by agency id; the latest record per agency wins.",
    summary="L'annuaire des organismes ; le dernier enregistrement de chacun fait foi.",
)
DEAD_LETTERS = TopicSpec(
    name="nrm.deadletters",
    purpose="Records that could not be processed, with a machine reason and the original bytes.",
    summary="Les lettres mortes : ce qui n'a pas pu être traité, la raison et l'original.",
)
AUDIT = TopicSpec(
    name="nrm.audit",
    purpose="Hash-chained audit entries, keyed by case id; kept forever, never compacted (the "
    "personal data inside is shredded on the retention schedule).",
    summary="La piste d'audit chaînée, par dossier ; gardée toujours (les données personnelles "
    "y sont détruites à la fin de leur durée de conservation).",
)
ESCALATIONS = TopicSpec(
    name="nrm.escalations",
    purpose="Reminders and escalation steps for overdue acknowledgements, keyed by case id.",
    summary="Relances et paliers d'escalade des accusés en retard, par dossier.",
)
ORPHANED_NEEDS = TopicSpec(
    name="nrm.orphaned-needs",
    purpose="Case needs with no open request and no accepting agency, for operators.",
    summary="Besoins d'un dossier sans demande ouverte ni organisme qui accepte.",
)
REDRIVE = TopicSpec(
    name="nrm.redrive",
    purpose="Dead letters an operator re-injects after a fix, keyed by case id, co-partitioned "
    "with the outboxes: the worker handles each as the original record from its source.",
    summary="Lettres mortes relancées par un opérateur après correction.",
)
CASE_STATE = TopicSpec(
    name="nrm.state.cases",
    compacted=True,
    purpose="Changelog of each case's state, keyed by case id, co-partitioned with the "
    "outboxes: a worker rebuilds the states of the partitions it is assigned from it.",
    summary="L'état de chaque dossier, d'où un worker le reconstruit.",
)
OPERATOR_ACTIONS = TopicSpec(
    name="nrm.operator-actions",
    purpose="What operators did on the dashboard (logins, cases viewed, re-drives), JSON, keyed "
    "by case id or operator id.",
    summary="Les actions des opérateurs sur le tableau de bord (connexions, dossiers vus, "
    "relances).",
)
ERASURE = TopicSpec(
    name="nrm.erasure",
    purpose="Erasure requests, approvals, rejections and restriction liftings (hub erase, signed "
    "with the operator-action key) and retention expiries (hub retention run, signed by the "
    "hub), keyed by case id, co-partitioned with the outboxes: the worker owning the case "
    "applies them in order, as the single writer of its chain (which keeps the record of each "
    "decision).",
    summary="Effacements, levées de limitation et expirations de conservation, signés, par "
    "dossier : le worker les applique dans l'ordre.",
)
OBSERVATORY = TopicSpec(
    name="nrm.observatory",
    partitions=1,
    purpose="Anonymised aggregate statistics with small-cell suppression.",
    summary="Statistiques agrégées anonymisées (petits effectifs masqués).",
)

CORE_TOPICS: tuple[TopicSpec, ...] = (
    DIRECTORY,
    DEAD_LETTERS,
    AUDIT,
    ESCALATIONS,
    ORPHANED_NEEDS,
    REDRIVE,
    CASE_STATE,
    OPERATOR_ACTIONS,
    ERASURE,
    OBSERVATORY,
)


def outbox_topic(agency_id: str) -> str:
    """The topic an agency publishes to; owning it is what proves the sender's channel."""
    return f"{OUTBOX_PREFIX}{agency_id}"


def inbox_topic(agency_id: str) -> str:
    """The topic the hub delivers an agency's projections to."""
    return f"{INBOX_PREFIX}{agency_id}"


def agency_of_outbox(topic: str) -> str | None:
    """The agency owning an outbox topic, or None when the topic is not an outbox."""
    if topic.startswith(OUTBOX_PREFIX) and len(topic) > len(OUTBOX_PREFIX):
        return topic[len(OUTBOX_PREFIX) :]
    return None


def agency_topics(agency_ids: Iterable[str]) -> list[TopicSpec]:
    """The outbox and inbox of each agency."""
    specs: list[TopicSpec] = []
    for agency_id in agency_ids:
        specs.append(
            TopicSpec(
                name=outbox_topic(agency_id),
                purpose=f"{agency_id} publishes",
                summary=f"Ce que {agency_id} publie au hub.",
            )
        )
        specs.append(
            TopicSpec(
                name=inbox_topic(agency_id),
                purpose=f"{agency_id} receives",
                summary=f"Ce que le hub livre à {agency_id}.",
            )
        )
    return specs


def all_topics(agency_ids: Iterable[str]) -> list[TopicSpec]:
    """Core topics plus every agency's outbox and inbox."""
    return [*CORE_TOPICS, *agency_topics(agency_ids)]
