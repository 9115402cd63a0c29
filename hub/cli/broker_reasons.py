"""A broker's refusal (an aiokafka ``KafkaError``) said to the operator in French.

aiokafka's own text ("[Error 3] UnknownTopicOrPartitionError: ...") is English for
developers: the operator reads what went wrong and what to do, and the class name stays only
as a code in parentheses, for a bug report. Classes are named, not imported, so that
``hub --help`` does not load aiokafka; a subclass takes its nearest named ancestor's reason.
"""

from __future__ import annotations

_TOPICS = "vérifiez que les topics existent (`hub topics create`)"
_WAIT = "le broker élit ou déplace un responsable : réessayez dans quelques secondes"
_RIGHTS = "vérifiez les ACL du broker (`hub acls`) et le compte utilisé"

REASONS: dict[str, tuple[str, str]] = {
    "UnknownTopicOrPartitionError": ("topic ou partition inconnu", _TOPICS),
    "InvalidTopicError": ("nom de topic refusé", _TOPICS),
    "TopicAlreadyExistsError": ("le topic existe déjà", "rien à créer"),
    "InvalidPartitionsError": ("nombre de partitions refusé", "vérifiez la configuration"),
    "InvalidReplicationFactorError": (
        "facteur de réplication refusé",
        "vérifiez le nombre de brokers du cluster",
    ),
    "NotLeaderForPartitionError": ("ce broker ne dirige plus la partition", _WAIT),
    "LeaderNotAvailableError": ("la partition n'a pas encore de responsable", _WAIT),
    "NotEnoughReplicasError": ("pas assez de répliques en service", _WAIT),
    "RequestTimedOutError": (
        "le broker n'a pas répondu à temps",
        "réessayez ; s'il est surchargé, attendez qu'il se rétablisse",
    ),
    "GroupCoordinatorNotAvailableError": ("coordinateur de groupe indisponible", _WAIT),
    "NotCoordinatorForGroupError": ("ce broker ne coordonne plus le groupe", _WAIT),
    "GroupLoadInProgressError": ("coordinateur de groupe en cours de chargement", _WAIT),
    "RebalanceInProgressError": ("le groupe de consommateurs se réorganise", _WAIT),
    "TopicAuthorizationFailedError": ("accès au topic refusé", _RIGHTS),
    "GroupAuthorizationFailedError": ("accès au groupe de consommateurs refusé", _RIGHTS),
    "ClusterAuthorizationFailedError": ("opération d'administration refusée", _RIGHTS),
    "PolicyViolationError": (
        "demande contraire à la politique du broker",
        "vérifiez la configuration du broker",
    ),
    "MessageSizeTooLargeError": (
        "message trop gros pour le broker",
        "vérifiez max.message.bytes du topic",
    ),
    "OffsetOutOfRangeError": (
        "position de lecture hors du journal",
        "les enregistrements ont pu expirer : relisez depuis le début",
    ),
    "CorruptRecordException": ("enregistrement corrompu", "signalez-le avec le topic concerné"),
    "UnknownError": (
        "erreur interne du broker",
        "vérifiez ses journaux et qu'il est prêt, puis réessayez",
    ),
}
"""aiokafka class name → (what went wrong, what to do), in French."""

_ANY = (
    "erreur du broker",
    "vérifiez qu'il est prêt et que les topics existent (`hub topics create`)",
)


def broker_refusal(exc: BaseException, servers: str) -> str:
    """``le broker … a refusé la demande : raison (Code) : que faire``."""
    reason, advice = next(
        (REASONS[kind.__name__] for kind in type(exc).__mro__ if kind.__name__ in REASONS), _ANY
    )
    return f"le broker {servers} a refusé la demande : {reason} ({type(exc).__name__}) : {advice}"
