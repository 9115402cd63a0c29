"""Apply the declared ACLs (``hub.trust.acls``) to an Apache Kafka cluster, as its super user.

aiokafka 0.14 has no public ACL admin API, but its protocol module has the CreateAcls,
DescribeAcls and DeleteAcls requests (v0-v1, negotiated per connection), which is all this
needs. The embedded broker cannot serve these requests (it closes the connection on
CreateAcls), so the requests are pinned byte for byte against Kafka's protocol layout by
tests/unit/trust/test_acls.py, and the whole path runs only against a real Kafka
(docs/DEPLOYMENT.md).
The wire codes are Kafka's: ``org.apache.kafka.common.resource.ResourceType`` and
``PatternType``, ``org.apache.kafka.common.acl.AclOperation`` and ``AclPermissionType``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from hub.runtime.kafka_options import client_options
from hub.runtime.settings import HubSettings
from hub.trust.acls import Acl, AclPlan, Operation, PatternType, ResourceType, plan

RESOURCE_CODES: Mapping[ResourceType, int] = {
    ResourceType.TOPIC: 2,
    ResourceType.GROUP: 3,
    ResourceType.CLUSTER: 4,
}
PATTERN_CODES: Mapping[PatternType, int] = {PatternType.LITERAL: 3, PatternType.PREFIXED: 4}
OPERATION_CODES: Mapping[Operation, int] = {
    Operation.READ: 3,
    Operation.WRITE: 4,
    Operation.CREATE: 5,
    Operation.DESCRIBE: 8,
    Operation.DESCRIBE_CONFIGS: 10,
}
ANY = 1
ALLOW = 3
ANY_HOST = "*"


def create_request(acl: Acl) -> Any:
    """The CreateAcls request for one ALLOW rule on any host."""
    return CreateAclsRequest(
        RESOURCE_CODES[acl.resource_type],
        acl.resource_name,
        PATTERN_CODES[acl.pattern_type],
        acl.principal,
        ANY_HOST,
        OPERATION_CODES[acl.operation],
        ALLOW,
    )


def delete_request(acl: Acl) -> Any:
    """The DeleteAcls request whose filter matches exactly this ALLOW rule."""
    return DeleteAclsRequest(
        RESOURCE_CODES[acl.resource_type],
        acl.resource_name,
        PATTERN_CODES[acl.pattern_type],
        acl.principal,
        ANY_HOST,
        OPERATION_CODES[acl.operation],
        ALLOW,
    )


def describe_all_request() -> Any:
    """The DescribeAcls request matching every rule of the cluster."""
    return DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY)


def managed_acls(resources: Iterable[Any]) -> tuple[frozenset[Acl], int]:
    """From a DescribeAcls response's resources: the ALLOW-any-host rules this module can
    express, and how many other rules there are (DENY, host-specific, other operations). The
    others are never pruned: an operator's emergency DENY must survive an apply."""
    codes_resource = {code: kind for kind, code in RESOURCE_CODES.items()}
    codes_pattern = {code: kind for kind, code in PATTERN_CODES.items()}
    codes_operation = {code: kind for kind, code in OPERATION_CODES.items()}
    found: set[Acl] = set()
    others = 0
    for resource_type, resource_name, pattern_type, entries in resources:
        for principal, host, operation, permission in entries:
            kind = codes_resource.get(resource_type)
            pattern = codes_pattern.get(pattern_type)
            op = codes_operation.get(operation)
            allow_any_host = permission == ALLOW and host == ANY_HOST
            if kind is None or pattern is None or op is None or not allow_any_host:
                others += 1
            else:
                found.add(Acl(principal, kind, pattern, resource_name, op))
    return frozenset(found), others


async def apply_acls(
    settings: HubSettings, wanted: Iterable[Acl], *, prune: bool = False
) -> tuple[AclPlan, int]:
    """Make the broker at ``settings.bootstrap_servers`` hold ``wanted``; run as a super user.

    Creates the missing rules; with ``prune``, also deletes ALLOW-any-host rules that are not
    wanted (an agency removed from the directory loses its access). Rules it cannot express
    are left alone and counted. Idempotent. Returns the plan it carried out and that count.
    """
    client = AIOKafkaClient(**client_options(settings))
    await client.bootstrap()
    try:
        node = client.get_random_node()
        described = await client.send(node, describe_all_request())
        if described.error_code:
            raise for_code(described.error_code)(f"DescribeAcls: {described.error_message}")
        current, others = managed_acls(described.resources)
        todo = plan(wanted, current)
        if not prune:
            todo = AclPlan(add=todo.add, remove=frozenset())
        for acl in sorted(todo.add):
            response = await client.send(node, create_request(acl))
            for code, message in response.creation_responses:
                if code:
                    raise for_code(code)(f"CreateAcls {acl.describe()}: {message}")
        for acl in sorted(todo.remove):
            response = await client.send(node, delete_request(acl))
            for code, message, _matching in response.filter_responses:
                if code:
                    raise for_code(code)(f"DeleteAcls {acl.describe()}: {message}")
    finally:
        await client.close()
    return todo, others
