"""Kafka ACLs as code: the rights of every principal, derived from the agency directory.

On Apache Kafka each agency connects as its own SCRAM principal ``User:<agency id>`` and the
broker refuses whatever no ACL allows (``allow.everyone.if.no.acl.found=false``). An agency may
write its own outbox, read its own inbox, and use its own consumer group ``agency-<id>``:
nothing else. The hub's principals get what their process needs and no more:

- ``User:hub`` (workers, dashboard, operator commands): reads every outbox, writes every
  inbox, reads and writes the hub's internal topics, uses the ``nrm-*`` groups.
- ``User:hub-gateway`` (the internet-facing HTTP gateway): writes outboxes and reads inboxes
  for the agencies it authenticated, reads the directory; it never sees the audit log, the
  case states or the dead letters, which hold every case's personal data.
- ``User:schema-registry``: its own ``_schemas`` topic and groups.

Hub rules on agency topics are PREFIXED (``nrm.outbox.``), so an agency added at runtime through
the directory topic only needs its own LITERAL rules. The super user (``admin``) and the broker
principals are broker configuration (``super.users``), never ACLs; no agency may take one of
those names. The declared set is rendered to ``deploy/kafka/acls.yaml`` (reviewed and
committed), checked against the directory by a test and by ``hub acls apply``, and applied to a
broker by ``hub.trust.acl_admin``. The embedded broker has no authorisation at all (docs/BROKER.md):
there the record signature is the only lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.contracts.topics import (
    DIRECTORY,
    INBOX_PREFIX,
    OUTBOX_PREFIX,
    TopicSpec,
    inbox_topic,
    outbox_topic,
)
from hub.rules.directory import Agency
from hub.runtime.operator_reasons import os_reason

HUB_PRINCIPAL = "User:hub"
GATEWAY_PRINCIPAL = "User:hub-gateway"
REGISTRY_PRINCIPAL = "User:schema-registry"
SERVICE_NAMES = ("hub", "hub-gateway", "schema-registry")
SUPER_USER_NAMES = ("admin",)
BROKER_NAME = re.compile(r"^kafka-[0-9]+$")
"""Broker principals (``User:kafka-<node id>``, from each broker's certificate CN)."""

AGENCY_GROUP_PREFIX = "agency-"
HUB_GROUP_PREFIX = "nrm-"
GATEWAY_GROUP_PREFIX = "nrm-gateway"
REGISTRY_GROUP_PREFIX = "schema-registry"
REGISTRY_TOPIC = "_schemas"
CLUSTER_NAME = "kafka-cluster"
"""Kafka names the one cluster resource ``kafka-cluster``."""

PRINCIPAL = re.compile(r"^User:[A-Za-z0-9][A-Za-z0-9._-]*$")


class AclError(ValueError):
    """An ACL file or a directory that cannot give a safe ACL set."""


class ResourceType(StrEnum):
    """The Kafka resources the hub's rules name."""

    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"


class PatternType(StrEnum):
    """How a rule's resource name matches: the exact name, or every name it starts."""

    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    """The Kafka operations the hub's rules allow (declaration order is the file's order)."""

    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


# Kafka's authorizer grants DESCRIBE to whoever may READ or WRITE the resource.
IMPLIES_DESCRIBE = frozenset({Operation.READ, Operation.WRITE})


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule, for any host. Deny rules are never declared: what is not allowed is
    refused by the broker (``allow.everyone.if.no.acl.found=false``)."""

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    resource_name: str
    operation: Operation

    def covers(self, resource_type: ResourceType, name: str) -> bool:
        """True when this rule's resource pattern matches the resource ``name``."""
        if resource_type is not self.resource_type:
            return False
        if self.pattern_type is PatternType.PREFIXED:
            return name.startswith(self.resource_name)
        return name == self.resource_name

    def describe(self) -> str:
        """``User:x WRITE TOPIC LITERAL nrm.outbox.x``: one rule on one line, for logs."""
        return (
            f"{self.principal} {self.operation.value} {self.resource_type.value} "
            f"{self.pattern_type.value} {self.resource_name}"
        )


def agency_principal(agency_id: str) -> str:
    """The SCRAM principal an agency connects as."""
    return f"User:{agency_id}"


def agency_group(agency_id: str) -> str:
    """The consumer group an agency reads its inbox with (the agency client's default)."""
    return f"{AGENCY_GROUP_PREFIX}{agency_id}"


def is_reserved(agency_id: str) -> bool:
    """True when an agency with this id would share a principal with a hub service, the super
    user or a broker, and so inherit its rights."""
    return (
        agency_id in SERVICE_NAMES
        or agency_id in SUPER_USER_NAMES
        or BROKER_NAME.fullmatch(agency_id) is not None
    )


Rule = tuple[ResourceType, PatternType, str, tuple[Operation, ...]]
"""A resource pattern and the operations allowed on it."""

CONSUME = (Operation.READ, Operation.DESCRIBE)
PRODUCE = (Operation.WRITE, Operation.DESCRIBE)
READ_WRITE = (Operation.READ, Operation.WRITE, Operation.DESCRIBE)
TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED


def _acls(principal: str, rules: Iterable[Rule]) -> set[Acl]:
    return {
        Acl(principal, resource_type, pattern_type, name, operation)
        for resource_type, pattern_type, name, operations in rules
        for operation in operations
    }


def agency_rules(agency_id: str) -> list[Rule]:
    """An agency's job and nothing more: write its outbox, read its inbox with its group."""
    return [
        (TOPIC, LITERAL, outbox_topic(agency_id), PRODUCE),
        (TOPIC, LITERAL, inbox_topic(agency_id), CONSUME),
        (GROUP, LITERAL, agency_group(agency_id), CONSUME),
    ]


def hub_rules(internal_topics: Iterable[str]) -> list[Rule]:
    """The workers' (and operators') needs: every outbox in, every inbox out, the internals."""
    return [
        (TOPIC, PREFIXED, OUTBOX_PREFIX, CONSUME),
        (TOPIC, PREFIXED, INBOX_PREFIX, PRODUCE),
        (GROUP, PREFIXED, HUB_GROUP_PREFIX, CONSUME),
        (CLUSTER, LITERAL, CLUSTER_NAME, (Operation.DESCRIBE,)),
        *((TOPIC, LITERAL, name, READ_WRITE) for name in internal_topics),
    ]


def gateway_rules() -> list[Rule]:
    """The gateway publishes and reads for the agencies it authenticated, and follows the
    directory (keys, removals) to authenticate them; it never reads the hub's internals."""
    return [
        (TOPIC, PREFIXED, OUTBOX_PREFIX, PRODUCE),
        (TOPIC, PREFIXED, INBOX_PREFIX, CONSUME),
        (TOPIC, LITERAL, DIRECTORY.name, CONSUME),
        (GROUP, PREFIXED, GATEWAY_GROUP_PREFIX, CONSUME),
    ]


def registry_rules() -> list[Rule]:
    """Confluent Schema Registry keeps its schemas in ``_schemas`` (it creates the topic and
    checks its configuration) and elects its leader through its group."""
    registry_ops = (*READ_WRITE, Operation.DESCRIBE_CONFIGS, Operation.CREATE)
    return [
        (TOPIC, LITERAL, REGISTRY_TOPIC, registry_ops),
        (GROUP, PREFIXED, REGISTRY_GROUP_PREFIX, CONSUME),
    ]


def expected_acls(directory: Iterable[Agency], topics: Iterable[TopicSpec]) -> frozenset[Acl]:
    """Every ACL the deployment needs, derived from the agencies and the declared topics.

    ``topics`` is the hub's declared topic list (``hub.contracts.topics.CORE_TOPICS`` or
    ``all_topics``):
    agency outboxes and inboxes in it are recognised by name and covered by the agency rules
    and the PREFIXED hub rules; every other topic is hub-internal. Raises ``AclError`` when an
    agency id is reserved for a hub service, the super user or a broker.
    """
    agencies = sorted({agency.id for agency in directory})
    reserved = [agency_id for agency_id in agencies if is_reserved(agency_id)]
    if reserved:
        raise AclError(
            f"identifiant(s) d'organisme {', '.join(reserved)} : même principal qu'un service du "
            "hub, le super-utilisateur ou un broker ; renommez l'organisme"
        )
    internal = sorted(
        {spec.name for spec in topics if not spec.name.startswith((OUTBOX_PREFIX, INBOX_PREFIX))}
    )
    acls = (
        _acls(HUB_PRINCIPAL, hub_rules(internal))
        | _acls(GATEWAY_PRINCIPAL, gateway_rules())
        | _acls(REGISTRY_PRINCIPAL, registry_rules())
    )
    for agency_id in agencies:
        acls |= _acls(agency_principal(agency_id), agency_rules(agency_id))
    return frozenset(acls)


def allows(
    acls: Iterable[Acl],
    principal: str,
    operation: Operation,
    resource_type: ResourceType,
    name: str,
) -> bool:
    """Whether ``acls`` let ``principal`` perform ``operation`` on a resource, as Kafka's
    StandardAuthorizer decides for ALLOW rules (LITERAL and PREFIXED patterns; READ or WRITE
    imply DESCRIBE). Tests use it to state who can do what, not only which rules exist."""
    granting = {operation}
    if operation is Operation.DESCRIBE:
        granting |= IMPLIES_DESCRIBE
    return any(
        acl.principal == principal and acl.operation in granting and acl.covers(resource_type, name)
        for acl in acls
    )


# --- The declared file (deploy/kafka/acls.yaml) ---------------------------------------------

FILE_HEADER = """\
# The Kafka ACLs of the NRM hub: the DECLARED set, applied by `hub acls apply`.
# Generated by `hub acls render > deploy/kafka/acls.yaml` from the directory (HUB_CONFIG_DIR)
# and hub/contracts/topics.py. Do not edit by hand: change the directory and render again.
# tests/unit/trust/test_acls.py and `hub acls apply` refuse a file that differs from the directory.
# Everything not allowed here is refused (allow.everyone.if.no.acl.found=false); `admin` and
# the brokers are super users by broker configuration, not by ACLs.
"""


class _Binding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: ResourceType
    pattern: PatternType
    name: str = Field(min_length=1)
    operations: tuple[Operation, ...] = Field(min_length=1)


class _AclFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    principals: dict[str, tuple[_Binding, ...]]


def render_acls(acls: Iterable[Acl]) -> str:
    """The YAML text of an ACL set: per principal, one line per resource with its operations,
    sorted, so that a change of rights is a readable diff in review."""
    lines = [FILE_HEADER, "principals:\n"]
    order = list(Operation)
    by_principal = groupby(sorted(acls), key=lambda acl: acl.principal)
    for principal, principal_acls in by_principal:
        lines.append(f"  {_quoted(principal)}:\n")
        by_resource = groupby(
            principal_acls, key=lambda a: (a.resource_type, a.pattern_type, a.resource_name)
        )
        for (resource_type, pattern_type, name), resource_acls in by_resource:
            operations = sorted({a.operation for a in resource_acls}, key=order.index)
            listed = ", ".join(op.value for op in operations)
            lines.append(
                f"    - {{resource: {resource_type.value}, pattern: {pattern_type.value}, "
                f"name: {_quoted(name)}, operations: [{listed}]}}\n"
            )
    return "".join(lines)


def _quoted(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_acls(text: str) -> frozenset[Acl]:
    """The ACL set a declared file describes; ``AclError`` when it is not a valid one."""
    try:
        raw: Any = yaml.safe_load(text)
        parsed = _AclFile.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise AclError(f"fichier d'ACL invalide : {exc}") from None
    acls: set[Acl] = set()
    for principal, bindings in parsed.principals.items():
        if not PRINCIPAL.fullmatch(principal):
            raise AclError(f"pas un principal : {principal!r} (attendu User:<nom>)")
        for binding in bindings:
            for operation in binding.operations:
                acls.add(Acl(principal, binding.resource, binding.pattern, binding.name, operation))
    return frozenset(acls)


def load_acls(path: Path) -> frozenset[Acl]:
    """Read and validate a declared ACL file."""
    try:
        return parse_acls(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AclError(f"impossible de lire {path} : {os_reason(exc)}") from None


@dataclass(frozen=True)
class AclPlan:
    """What to change so that a broker (or a file) holds exactly the wanted ALLOW rules."""

    add: frozenset[Acl]
    remove: frozenset[Acl]

    @property
    def empty(self) -> bool:
        """True when nothing differs."""
        return not self.add and not self.remove

    def describe(self) -> list[str]:
        """One human line per difference, sorted: ``+ User:x WRITE TOPIC LITERAL name``."""
        return [f"+ {acl.describe()}" for acl in sorted(self.add)] + [
            f"- {acl.describe()}" for acl in sorted(self.remove)
        ]


def plan(wanted: Iterable[Acl], current: Iterable[Acl]) -> AclPlan:
    """The rules to add and to remove to go from ``current`` to ``wanted``."""
    wanted_set, current_set = frozenset(wanted), frozenset(current)
    return AclPlan(add=wanted_set - current_set, remove=current_set - wanted_set)
