"""ACLs as code: the declared set is what the directory calls for, and it keeps agencies apart.

The broker enforces these rules only on Apache Kafka (the embedded broker ignores ACLs and
cannot even serve CreateAcls), so the wire requests are pinned here byte for byte against
Kafka's protocol layout instead.
"""

from __future__ import annotations

import struct
from itertools import permutations

import pytest
from aiokafka.protocol.admin import (
    CreateAclsRequest,
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest,
    DescribeAclsRequest_v1,
)

from agents.router import GROUP_ID as ROUTER_GROUP
from connectors.client.kafka_client import AgencyClient
from hub.contracts.enums import AgencyRole
from hub.contracts.topics import CASE_STATE, CORE_TOPICS, all_topics, inbox_topic, outbox_topic
from hub.rules.directory import Agency, Directory
from hub.runtime.settings import PROJECT_ROOT, HubSettings
from hub.trust.acl_admin import create_request, delete_request, describe_all_request, managed_acls
from hub.trust.acls import (
    GATEWAY_PRINCIPAL,
    HUB_PRINCIPAL,
    REGISTRY_PRINCIPAL,
    REGISTRY_TOPIC,
    Acl,
    AclError,
    Operation,
    PatternType,
    ResourceType,
    agency_group,
    agency_principal,
    allows,
    expected_acls,
    load_acls,
    parse_acls,
    plan,
    render_acls,
)

ACLS_FILE = PROJECT_ROOT / "deploy" / "kafka" / "acls.yaml"
CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
READ, WRITE, DESCRIBE, CREATE = (
    Operation.READ,
    Operation.WRITE,
    Operation.DESCRIBE,
    Operation.CREATE,
)
TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load(CONFIG_DIR)


@pytest.fixture(scope="module")
def declared() -> frozenset[Acl]:
    return load_acls(ACLS_FILE)


@pytest.fixture(scope="module")
def agency_ids(directory: Directory) -> list[str]:
    return sorted(agency.id for agency in directory)


def test_declared_acls_equal_what_the_directory_calls_for(
    directory: Directory, declared: frozenset[Acl]
) -> None:
    difference = plan(expected_acls(directory, CORE_TOPICS), declared)
    assert difference.empty, (
        "deploy/kafka/acls.yaml is stale; run `hub acls render`:\n"
        + "\n".join(difference.describe())
    )


def test_declared_file_is_exactly_the_rendered_text(directory: Directory) -> None:
    rendered = render_acls(expected_acls(directory, CORE_TOPICS))
    assert ACLS_FILE.read_text(encoding="utf-8") == rendered


def test_every_topic_declared_for_the_agencies_gives_the_same_set(
    directory: Directory, agency_ids: list[str]
) -> None:
    # The outboxes and inboxes are covered by name, whether or not they are passed in.
    assert expected_acls(directory, all_topics(agency_ids)) == expected_acls(directory, CORE_TOPICS)


def test_no_agency_reads_another_agencys_inbox_or_outbox(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for agency, other in permutations(agency_ids, 2):
        user = agency_principal(agency)
        for topic in (inbox_topic(other), outbox_topic(other)):
            assert not allows(declared, user, READ, TOPIC, topic), (agency, topic)
            assert not allows(declared, user, DESCRIBE, TOPIC, topic), (agency, topic)


def test_no_agency_writes_another_agencys_outbox_or_any_inbox(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for agency, other in permutations(agency_ids, 2):
        assert not allows(declared, agency_principal(agency), WRITE, TOPIC, outbox_topic(other))
    for agency in agency_ids:
        # Not even its own inbox: only the hub delivers there.
        for target in agency_ids:
            assert not allows(declared, agency_principal(agency), WRITE, TOPIC, inbox_topic(target))


def test_no_agency_uses_another_agencys_consumer_group(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for agency, other in permutations(agency_ids, 2):
        assert not allows(declared, agency_principal(agency), READ, GROUP, agency_group(other))
        assert not allows(declared, agency_principal(agency), READ, GROUP, ROUTER_GROUP)


def test_no_agency_touches_hub_internals_the_registry_or_the_cluster(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for agency in agency_ids:
        user = agency_principal(agency)
        for spec in CORE_TOPICS:
            for operation in (READ, WRITE, DESCRIBE, CREATE):
                assert not allows(declared, user, operation, TOPIC, spec.name), (agency, spec)
        assert not allows(declared, user, WRITE, TOPIC, REGISTRY_TOPIC)
        assert not allows(declared, user, CREATE, TOPIC, outbox_topic(agency))
        assert not allows(declared, user, DESCRIBE, CLUSTER, "kafka-cluster")


def test_each_agency_can_do_its_job(declared: frozenset[Acl], agency_ids: list[str]) -> None:
    for agency in agency_ids:
        user = agency_principal(agency)
        assert allows(declared, user, WRITE, TOPIC, outbox_topic(agency))
        assert allows(declared, user, DESCRIBE, TOPIC, outbox_topic(agency))
        assert allows(declared, user, READ, TOPIC, inbox_topic(agency))
        assert allows(declared, user, READ, GROUP, agency_group(agency))


def test_every_agency_rule_is_literal_and_names_its_own_resources(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for acl in declared:
        agency = acl.principal.removeprefix("User:")
        if agency in agency_ids:
            assert acl.pattern_type is PatternType.LITERAL, acl
            assert acl.resource_name in (
                outbox_topic(agency),
                inbox_topic(agency),
                agency_group(agency),
            ), acl


def test_the_agency_client_reads_with_the_declared_group() -> None:
    client = AgencyClient(HubSettings(), "police-93", None, None, None)  # type: ignore[arg-type]
    assert client.group_id == agency_group("police-93")


def test_hub_routes_every_outbox_to_every_inbox_including_agencies_added_at_runtime(
    declared: frozenset[Acl], agency_ids: list[str]
) -> None:
    for agency in [*agency_ids, "association-13-added-later"]:
        assert allows(declared, HUB_PRINCIPAL, READ, TOPIC, outbox_topic(agency))
        assert allows(declared, HUB_PRINCIPAL, WRITE, TOPIC, inbox_topic(agency))
        assert not allows(declared, HUB_PRINCIPAL, WRITE, TOPIC, outbox_topic(agency))
    assert allows(declared, HUB_PRINCIPAL, READ, GROUP, ROUTER_GROUP)
    assert allows(declared, HUB_PRINCIPAL, DESCRIBE, CLUSTER, "kafka-cluster")
    for spec in CORE_TOPICS:
        assert allows(declared, HUB_PRINCIPAL, READ, TOPIC, spec.name)
        assert allows(declared, HUB_PRINCIPAL, WRITE, TOPIC, spec.name)
    # Topics are created by the super user (topics-init), never by a running hub process.
    assert not any(acl.operation is CREATE for acl in declared if acl.principal == HUB_PRINCIPAL)


def test_gateway_publishes_and_reads_for_agencies_but_never_sees_the_hubs_internals(
    declared: frozenset[Acl],
) -> None:
    assert allows(declared, GATEWAY_PRINCIPAL, WRITE, TOPIC, outbox_topic("police-93"))
    assert allows(declared, GATEWAY_PRINCIPAL, READ, TOPIC, inbox_topic("police-93"))
    assert allows(declared, GATEWAY_PRINCIPAL, READ, TOPIC, "nrm.directory")
    assert allows(declared, GATEWAY_PRINCIPAL, READ, GROUP, "nrm-gateway")
    assert not allows(declared, GATEWAY_PRINCIPAL, WRITE, TOPIC, inbox_topic("police-93"))
    assert not allows(declared, GATEWAY_PRINCIPAL, READ, GROUP, ROUTER_GROUP)
    for spec in CORE_TOPICS:
        assert not allows(declared, GATEWAY_PRINCIPAL, WRITE, TOPIC, spec.name), spec
        if spec.name != "nrm.directory":
            assert not allows(declared, GATEWAY_PRINCIPAL, READ, TOPIC, spec.name), spec


def test_schema_registry_touches_only_its_own_topic(declared: frozenset[Acl]) -> None:
    rules = {acl for acl in declared if acl.principal == REGISTRY_PRINCIPAL}
    assert {acl.resource_name for acl in rules if acl.resource_type is TOPIC} == {REGISTRY_TOPIC}
    assert allows(rules, REGISTRY_PRINCIPAL, CREATE, TOPIC, REGISTRY_TOPIC)
    assert not allows(declared, REGISTRY_PRINCIPAL, READ, TOPIC, CASE_STATE.name)


@pytest.mark.parametrize("reserved", ["hub", "hub-gateway", "schema-registry", "admin", "kafka-2"])
def test_an_agency_named_like_a_service_or_super_user_is_refused(reserved: str) -> None:
    agency = Agency(id=reserved, name="Imposter", role=AgencyRole.SUPPORT_ASSOCIATION)
    with pytest.raises(AclError, match=reserved):
        expected_acls([agency], CORE_TOPICS)


def test_removing_an_agency_plans_the_removal_of_its_rights(directory: Directory) -> None:
    before = expected_acls(directory, CORE_TOPICS)
    after = expected_acls(directory.without_agency("police-93"), CORE_TOPICS)
    change = plan(after, before)
    assert not change.add
    assert {acl.principal for acl in change.remove} == {"User:police-93"}
    assert len(change.remove) == 6


def test_render_and_parse_round_trip(declared: frozenset[Acl]) -> None:
    assert parse_acls(render_acls(declared)) == declared


@pytest.mark.parametrize(
    "text",
    [
        "principals: {'User:x': [{resource: TOPIC, pattern: LITERAL, name: t, operations: [ALL]}]}",
        "principals: {'x': [{resource: TOPIC, pattern: LITERAL, name: t, operations: [READ]}]}",
        "principals: {'User:x': [{resource: TOPIC, pattern: MATCH, name: t, operations: [READ]}]}",
        "principals: {'User:x': [{resource: TOPIC, pattern: LITERAL, name: t, operations: []}]}",
        "principals: {'User:x': [{resource: TOPIC, pattern: LITERAL, name: t, operations: [READ],"
        " permission: DENY}]}",
        "acls: []",
        "principals: [unclosed",
    ],
)
def test_a_malformed_acl_file_is_refused(text: str) -> None:
    with pytest.raises(AclError):
        parse_acls(text)


# --- The wire requests, pinned to Kafka's protocol layout ------------------------------------


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_create_acls_request_is_kafkas_v1_layout() -> None:
    acl = Acl("User:police-93", TOPIC, PatternType.LITERAL, "nrm.outbox.police-93", WRITE)
    request = create_request(acl)
    # Kafka 3.9 accepts CreateAcls v0-v3; aiokafka's highest is v1, with the pattern type.
    built = request.prepare({CreateAclsRequest.API_KEY: (0, 3)})
    assert isinstance(built, CreateAclsRequest_v1)
    expected = (
        struct.pack(">i", 1)  # one creation
        + struct.pack(">b", 2)  # resource type TOPIC
        + _string("nrm.outbox.police-93")
        + struct.pack(">b", 3)  # pattern LITERAL
        + _string("User:police-93")
        + _string("*")  # any host
        + struct.pack(">b", 4)  # operation WRITE
        + struct.pack(">b", 3)  # permission ALLOW
    )
    assert built.encode() == expected


def test_delete_acls_request_matches_exactly_one_prefixed_rule() -> None:
    acl = Acl("User:hub", GROUP, PatternType.PREFIXED, "nrm-", READ)
    built = delete_request(acl).build(DeleteAclsRequest_v1)
    expected = (
        struct.pack(">i", 1)
        + struct.pack(">b", 3)  # GROUP
        + _string("nrm-")
        + struct.pack(">b", 4)  # PREFIXED
        + _string("User:hub")
        + _string("*")
        + struct.pack(">b", 3)  # READ
        + struct.pack(">b", 3)  # ALLOW
    )
    assert built.encode() == expected


def test_describe_request_matches_every_rule() -> None:
    built = describe_all_request().prepare({DescribeAclsRequest.API_KEY: (0, 3)})
    assert isinstance(built, DescribeAclsRequest_v1)
    null_string = struct.pack(">h", -1)
    expected = (
        struct.pack(">b", 1)  # resource type ANY
        + null_string
        + struct.pack(">b", 1)  # pattern ANY
        + null_string
        + null_string
        + struct.pack(">b", 1)  # operation ANY
        + struct.pack(">b", 1)  # permission ANY
    )
    assert built.encode() == expected


def test_described_rules_are_read_back_and_foreign_ones_left_alone() -> None:
    resources = [
        (2, "nrm.outbox.police-93", 3, [("User:police-93", "*", 4, 3), ("User:x", "*", 4, 2)]),
        (3, "nrm-", 4, [("User:hub", "*", 3, 3), ("User:hub", "10.0.0.1", 3, 3)]),
        (5, "tx", 3, [("User:hub", "*", 4, 3)]),  # a transactional id: not ours
    ]
    managed, others = managed_acls(resources)
    assert managed == {
        Acl("User:police-93", TOPIC, PatternType.LITERAL, "nrm.outbox.police-93", WRITE),
        Acl("User:hub", GROUP, PatternType.PREFIXED, "nrm-", READ),
    }
    # A DENY (an operator's emergency block), a host-specific rule, another resource type.
    assert others == 3
