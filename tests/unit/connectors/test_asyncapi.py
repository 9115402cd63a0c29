"""The AsyncAPI document: every topic is a channel with messages, every payload is a registered
Avro schema that fastavro parses, and the checked-in docs/asyncapi.json is current."""

from __future__ import annotations

import json
from typing import Any

import fastavro
import pytest

from connectors.api_documents import render
from connectors.asyncapi import (
    ASYNCAPI_FILE,
    AVRO_FORMAT,
    build_asyncapi,
    document_for,
)
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import all_topics
from hub.rules.directory import Directory
from hub.rules.routing import RoutingRules
from hub.runtime.settings import HubSettings

SETTINGS = HubSettings.model_construct()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return document_for(SETTINGS)


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(SETTINGS.schemas_dir)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_the_checked_in_document_is_current(document: dict[str, Any]) -> None:
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render(document), (
        "docs/asyncapi.json is stale: run .venv/bin/python -m connectors.asyncapi --write"
    )


def test_the_document_has_the_required_asyncapi_3_fields(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    for server in document["servers"].values():
        assert server["host"]
        assert server["protocol"] in ("kafka", "kafka-secure")
    assert document["channels"]
    assert document["operations"]
    assert document["components"]["messages"]


def test_every_topic_of_the_hub_is_a_channel_and_every_channel_has_messages(
    document: dict[str, Any],
) -> None:
    directory = Directory.load(SETTINGS.config_dir)
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {spec.name for spec in all_topics(a.id for a in directory)}
    for name, channel in document["channels"].items():
        assert channel["messages"], f"channel {name} has no messages"
        for message_ref in channel["messages"].values():
            message = resolve(document, message_ref["$ref"])
            assert message["name"]
            assert message["payload"]
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]


def test_every_operation_names_its_channel_and_only_that_channels_messages(
    document: dict[str, Any],
) -> None:
    for name, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel_ref = operation["channel"]["$ref"]
        resolve(document, channel_ref)
        assert operation["messages"], name
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(channel_ref + "/messages/")
            resolve(document, message_ref["$ref"])


def test_every_avro_payload_is_the_latest_registered_schema_and_parses_with_fastavro(
    document: dict[str, Any], registry: SchemaRegistry
) -> None:
    registered = set(registry.subjects())
    avro_messages = 0
    for message in document["components"]["messages"].values():
        if message.get("x-nrm-pending"):
            assert message["name"] not in registered, "registered now: regenerate the document"
            continue
        if message.get("contentType") == "application/json":
            continue  # hub-internal JSON changelog, not a contract
        payload = resolve(document, message["payload"]["$ref"])
        assert payload["schemaFormat"] == AVRO_FORMAT
        fastavro.parse_schema(payload["schema"])
        assert payload["schema"] == registry.latest(message["name"]).schema
        ids = [entry["id"] for entry in message["x-nrm-schema-ids"]]
        assert ids == [s.schema_id for s in registry.versions(message["name"])]
        binding = message["bindings"]["kafka"]
        assert binding["schemaIdLocation"] == "payload"
        assert binding["schemaIdPayloadEncoding"] == "confluent"
        avro_messages += 1
    assert avro_messages >= 12


def test_outboxes_carry_what_each_role_may_send_and_inboxes_what_it_receives(
    document: dict[str, Any],
) -> None:
    def carried(channel: str) -> set[str]:
        return set(document["channels"][channel]["messages"])

    assert "ReferralOpened" in carried("outbox-police-93")
    assert "ReferralOpened" not in carried("outbox-association-93")  # not an identifying role
    assert "PermitRequested" in carried("inbox-prefecture-93")
    assert "AccommodationRequested" not in carried("inbox-prefecture-93")
    assert "AccommodationRequested" in carried("inbox-hebergement-93")
    assert "Acknowledgement" in carried("inbox-police-93")  # answers to its requests
    assert "Escalation" in carried("inbox-prefecture-93")  # reminders of what it must answer
    assert all("RefusalNotice" in carried(f"inbox-{a}") for a in ("police-93", "prefecture-93"))
    assert carried("deadletters") == {"DeadLetter"}
    assert carried("audit") == {"AuditEntry"}


def test_a_directory_of_one_agency_gives_the_core_channels_and_its_two(
    registry: SchemaRegistry,
) -> None:
    directory = Directory.load(SETTINGS.config_dir)
    police = directory.get("police-93")
    assert police is not None
    small = Directory([police], {})
    document = build_asyncapi(small, registry, RoutingRules.load(SETTINGS.config_dir))
    outboxes = [c for c in document["channels"].values() if c["address"].startswith("nrm.outbox")]
    assert [c["address"] for c in outboxes] == ["nrm.outbox.police-93"]
    json.dumps(document)  # serialisable as it is
