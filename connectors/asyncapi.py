"""The AsyncAPI 3.0 document of every hub topic, generated from the code and checked in.

Channels come from ``hub/contracts/topics.py`` (the core topics, and an outbox and an inbox per
agency of the directory); which messages each carries comes from the routing rules (who may send
what, which roles receive what) and, for the hub's own topics, from ``HUB_TOPIC_SUBJECTS`` below.
Every message's payload is the registered Avro schema of its subject (the latest version,
self-contained), as a multi-format schema ``application/vnd.apache.avro;version=1.9.0``, with
the Confluent framing and the signature headers described in the message's Kafka bindings.

Regenerate (a test fails while ``docs/asyncapi.json`` is stale)::

    .venv/bin/python -m connectors.asyncapi --write
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.api_documents import document_command
from hub.contracts.enums import AgencyRole
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import (
    AUDIT,
    CASE_STATE,
    CORE_TOPICS,
    DEAD_LETTERS,
    DIRECTORY,
    ERASURE,
    ESCALATIONS,
    OBSERVATORY,
    OPERATOR_ACTIONS,
    ORPHANED_NEEDS,
    TopicSpec,
    inbox_topic,
    outbox_topic,
)
from hub.rules.directory import Agency, Directory
from hub.rules.routing import RoutingRules, Selection
from hub.runtime.retention import RetentionSchedule
from hub.runtime.settings import PROJECT_ROOT, HubSettings
from hub.trust.signing import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

ASYNCAPI_FILE = PROJECT_ROOT / "docs" / "asyncapi.json"
ASYNCAPI_VERSION = "3.0.0"
AVRO_FORMAT = "application/vnd.apache.avro;version=1.9.0"
JSON_SCHEMA_FORMAT = "application/schema+json;version=draft-07"
AVRO_CONTENT_TYPE = "application/vnd.apache.avro+binary"
KAFKA_BINDING = "0.5.0"
ACKNOWLEDGEMENT = "fr.nrm.Acknowledgement"
ESCALATION = "fr.nrm.Escalation"
CONSENT_WITHDRAWN = "fr.nrm.ConsentWithdrawn"
REFUSAL_NOTICE = "fr.nrm.RefusalNotice"
ERASURE_NOTICE = "fr.nrm.ErasureNotice"

HUB_TOPIC_SUBJECTS: Mapping[str, tuple[str, ...]] = {
    DIRECTORY.name: ("fr.nrm.DirectoryEntry",),
    DEAD_LETTERS.name: ("fr.nrm.DeadLetter",),
    AUDIT.name: ("fr.nrm.AuditEntry",),
    ESCALATIONS.name: (ESCALATION,),
    ORPHANED_NEEDS.name: ("fr.nrm.OrphanedNeed",),
    "nrm.redrive": ("fr.nrm.DeadLetter",),  # dead letters an operator re-injects
    ERASURE.name: (  # hub erase, hub retention run
        "fr.nrm.ErasureApproved",
        "fr.nrm.ErasureRejected",
        "fr.nrm.ErasureRequested",
        "fr.nrm.RestrictionLifted",
        "fr.nrm.RetentionExpiry",
    ),
    OBSERVATORY.name: ("fr.nrm.ObservatoryAggregate",),
}
"""What the hub writes to its own topics. A subject not registered yet is listed as pending."""

INTERNAL_JSON_TOPICS: Mapping[str, tuple[str, str, str]] = {
    CASE_STATE.name: (
        "CaseStateChange",
        "Case state (hub-internal)",
        "The changelog of one case's state, JSON, keyed by case id. Internal to the hub's "
        "workers: not a contract, not for agencies.",
    ),
    OPERATOR_ACTIONS.name: (
        "OperatorAction",
        "Operator action (hub-internal)",
        "What an operator did on the dashboard (login, case viewed, re-drive), JSON "
        "(nrm.operator-action.v1), keyed by case id or operator id. Internal.",
    ),
}
"""Hub-internal topics in JSON, not contracts (docs/DECISIONS.md): documented, not Avro."""


def build_asyncapi(
    directory: Directory,
    registry: SchemaRegistry,
    rules: RoutingRules,
    core_topics: Iterable[TopicSpec] = CORE_TOPICS,
    schedule: RetentionSchedule | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the core topics and every agency's outbox and inbox,
    each with the configuration the retention schedule gives it (default: the project's
    ``deploy/config/retention.yaml``)."""
    schedule = schedule or RetentionSchedule.load(PROJECT_ROOT / "deploy" / "config")
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"SignatureHeaders": _signature_headers()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def message_refs(subjects: Iterable[str]) -> dict[str, Any]:
        refs: dict[str, Any] = {}
        for subject in sorted(set(subjects)):
            name = subject.rsplit(".", 1)[-1]
            if name not in messages:
                messages[name], schema = _message(subject, registry)
                if schema is not None:
                    schemas[subject] = schema
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        return refs

    for spec in core_topics:
        channel_id = _channel_id(spec.name)
        if spec.name in INTERNAL_JSON_TOPICS:
            name, title, summary = INTERNAL_JSON_TOPICS[spec.name]
            refs = {name: {"$ref": f"#/components/messages/{name}"}}
            messages[name] = _internal_json_message(name, title, summary)
        else:
            refs = message_refs(HUB_TOPIC_SUBJECTS.get(spec.name, ()))
        channels[channel_id] = _channel(spec, refs, schedule)
        operations[f"hub-writes-{channel_id}"] = _operation(
            "send", channel_id, refs, f"The hub writes {spec.name}."
        )

    for agency in sorted(directory, key=lambda a: a.id):
        for direction, topic, subjects in (
            ("send", outbox_topic(agency.id), _outbox_subjects(agency, rules)),
            ("receive", inbox_topic(agency.id), _inbox_subjects(agency, rules, directory)),
        ):
            spec = TopicSpec(
                name=topic,
                purpose=f"{agency.name} ({agency.role.value}) "
                + ("publishes here, signed with its key." if direction == "send" else "reads")
                + ("" if direction == "send" else " the hub's minimised deliveries here."),
            )
            refs = message_refs(subjects)
            channel_id = _channel_id(topic)
            channels[channel_id] = _channel(spec, refs, schedule)
            verb = "publishes" if direction == "send" else "receives"
            operations[f"{agency.id}-{verb}"] = _operation(
                direction, channel_id, refs, f"{agency.id} {verb} on {topic}."
            )

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:nrm-hub:asyncapi",
        "info": {
            "title": "NRM Hub topics",
            "version": "1.0.0",
            "description": "Every Kafka topic of the national referral mechanism hub. Records "
            "are Confluent-framed Avro (0x00, the schema id on 4 bytes big-endian, the Avro "
            "binary), keyed by case id, and signed with Ed25519 in three headers "
            "(docs/SIGNING.md): agencies sign what they publish to their outbox, the hub signs "
            "everything it writes. Schemas: docs/SCHEMAS.md; routing: docs/ROUTING.md. Every "
            "indicator_codes field takes only codes of the shared indicator grid "
            "(deploy/config/indicators.yaml, docs/INDICATORS.md); any other is dead-lettered "
            "as UNKNOWN_INDICATOR.",
        },
        "defaultContentType": AVRO_CONTENT_TYPE,
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The embedded Tansu broker (loopback only, no authentication: "
                "records are signed instead).",
                "bindings": {
                    "kafka": {
                        "schemaRegistryUrl": "http://127.0.0.1:8081",
                        "schemaRegistryVendor": "confluent",
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            },
            "production": {
                "host": "kafka:9093",
                "protocol": "kafka-secure",
                "description": "Apache Kafka with TLS and one SASL/SCRAM principal per agency; "
                "ACLs let each agency write its outbox and read its inbox only.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _channel_id(topic: str) -> str:
    return topic.removeprefix("nrm.").replace(".", "-")


def _channel(spec: TopicSpec, refs: dict[str, Any], schedule: RetentionSchedule) -> dict[str, Any]:
    config: dict[str, Any] = {
        name: [value] if name == "cleanup.policy" else int(value)
        for name, value in schedule.topic_configs(spec).items()
    }
    config.setdefault("cleanup.policy", ["delete"])
    return {
        "address": spec.name,
        "title": spec.name,
        "description": spec.purpose,
        "messages": refs,
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "topicConfiguration": config,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _operation(action: str, channel_id: str, refs: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in refs],
    }


def _message(subject: str, registry: SchemaRegistry) -> tuple[dict[str, Any], Any]:
    """The message of ``subject`` and its payload schema (None when not registered yet)."""
    name = subject.rsplit(".", 1)[-1]
    versions = [s for s in registry if s.subject == subject]
    key = {"type": "string", "format": "uuid", "description": "The case id (UTF-8)."}
    if not versions:
        return {
            "name": subject,
            "title": name,
            "summary": f"Pending: {subject} is not registered yet (hub schemas register).",
            "x-nrm-pending": True,
            "payload": {"schemaFormat": JSON_SCHEMA_FORMAT, "schema": {"type": "object"}},
        }, None
    latest = registry.latest(subject)
    doc = latest.schema.get("doc") if isinstance(latest.schema, dict) else None
    message = {
        "name": subject,
        "title": name,
        "summary": doc or subject,
        "contentType": AVRO_CONTENT_TYPE,
        "headers": {"$ref": "#/components/schemas/SignatureHeaders"},
        "payload": {"$ref": f"#/components/schemas/{subject}"},
        "bindings": {
            "kafka": {
                "key": key,
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "confluent",
                "schemaLookupStrategy": "RecordNameStrategy",
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "x-nrm-schema-ids": [
            {
                "version": s.version,
                "id": s.schema_id,
                "file": f"schemas/registered/{s.schema_id}.avsc",
            }
            for s in versions
        ],
    }
    return message, {"schemaFormat": AVRO_FORMAT, "schema": latest.schema}


def _internal_json_message(name: str, title: str, summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"schemaFormat": JSON_SCHEMA_FORMAT, "schema": {"type": "object"}},
    }


def _signature_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka record headers proving the sender (docs/SIGNING.md).",
        "required": [SIGNATURE_HEADER, KEY_ID_HEADER, TIMESTAMP_HEADER],
        "properties": {
            SIGNATURE_HEADER: {
                "type": "string",
                "contentEncoding": "binary",
                "description": "Ed25519 signature (64 raw bytes) over topic, key, value, time.",
            },
            KEY_ID_HEADER: {
                "type": "string",
                "description": "Id of the signing key in the directory, UTF-8.",
            },
            TIMESTAMP_HEADER: {
                "type": "string",
                "pattern": "^(0|[1-9][0-9]{0,14})$",
                "description": "Signing time, milliseconds since the epoch, ASCII digits.",
            },
            "nrm-safe-channel": {
                "type": "string",
                "description": "On deliveries: how to reach the person safely (unsigned).",
            },
        },
    }


def _outbox_subjects(agency: Agency, rules: RoutingRules) -> set[str]:
    """What ``agency`` may publish: the rules whose senders include its role (or anyone's)."""
    subjects = set()
    for rule in rules.rules:
        if rule.senders is None or agency.role in rule.senders:
            if rule.message_type == "fr.nrm.ReferralOpened" and (
                agency.role not in rules.identifying_roles
            ):
                continue
            subjects.add(rule.message_type)
    return subjects


def _inbox_subjects(agency: Agency, rules: RoutingRules, directory: Directory) -> set[str]:
    """What the hub may deliver to ``agency``: types its role receives, answers to requests it
    may send, reminders of what it must answer, escalations it supervises, and consent
    withdrawal notices once it receives personal data; every agency may be told that a
    record of its outbox was refused."""
    role = agency.role
    subjects: set[str] = {REFUSAL_NOTICE}
    answers_requests = False
    for rule in rules.rules:
        for recipient in rule.recipients:
            if recipient.select is Selection.REQUESTER:
                continue
            if recipient.role is role:
                subjects.add(rule.message_type)
                answers_requests |= recipient.needs_answer
        if any(r.needs_answer for r in rule.recipients) and (
            rule.senders is None or role in rule.senders
        ):
            subjects.add(ACKNOWLEDGEMENT)
    supervises = any(a.supervisor == agency.id for a in directory)
    if answers_requests or supervises or role is AgencyRole.NATIONAL_COORDINATION:
        subjects.add(ESCALATION)
    if subjects - {ACKNOWLEDGEMENT, ESCALATION, REFUSAL_NOTICE}:
        subjects.add(CONSENT_WITHDRAWN)
        subjects.add(ERASURE_NOTICE)  # whoever receives case data hears of its erasure
    return subjects


def document_for(settings: HubSettings) -> dict[str, Any]:
    """The document for the configuration and schemas ``settings`` point at."""
    return build_asyncapi(
        Directory.load(settings.config_dir),
        SchemaRegistry.load(settings.schemas_dir),
        RoutingRules.load(settings.config_dir),
        schedule=RetentionSchedule.load(settings.config_dir),
    )


def main(argv: list[str] | None = None) -> int:
    """Print the document, ``--write`` it to docs/asyncapi.json, or ``--check`` it is current."""
    return document_command(
        "python -m connectors.asyncapi",
        ASYNCAPI_FILE,
        lambda: document_for(HubSettings.model_construct()),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
