"""The production deployment, validated without a Docker engine or a cluster.

docker-compose.yml, the Dockerfile, deploy/k8s/ and deploy/prometheus.yml are parsed and held
to what docs/DEPLOYMENT.md promises: three KRaft nodes with RF 3 and min ISR 2, authenticated
and encrypted listeners, deny-by-default ACLs, pinned images, commands that exist in the
``hub`` CLI, settings that exist in the settings objects, probes, no secret values, workers
bounded by the partition count. deploy/registry_import.py is run against a fake Confluent
Schema Registry (IMPORT mode) and against the embedded registry's REST API.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import typer
import yaml
from fastapi.testclient import TestClient
from typer._click.exceptions import UsageError  # typer 0.29 vendors click

from connectors.gateway.config import GatewaySettings
from connectors.registry_api import create_registry_app
from hub.cli.app import app as hub_cli
from hub.contracts.registry import SchemaRegistry
from hub.contracts.topics import DEFAULT_PARTITIONS
from hub.runtime.settings import PROJECT_ROOT, HubSettings, KeyStoreKind

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
K8S_DIR = PROJECT_ROOT / "deploy" / "k8s"
PROMETHEUS_FILE = PROJECT_ROOT / "deploy" / "prometheus.yml"
CONFIG_DIR = PROJECT_ROOT / "deploy" / "config"
SCHEMAS_DIR = PROJECT_ROOT / "schemas"

KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
ONE_SHOT = ("kafka-users-init", "topics-init", "acls-init", "registry-init")
LONG_RUNNING = (*KAFKA_NODES, "schema-registry", "worker", "gateway", "dashboard", "prometheus")
HUB_SERVICES = ("topics-init", "acls-init", "registry-init", "worker", "gateway", "dashboard")
PUBLISHED = {
    # The agencies' SASL_SSL listener of each broker: the only ports open beyond the host.
    "kafka-1": ["19092:19092"],
    "kafka-2": ["29092:29092"],
    "kafka-3": ["39092:39092"],
    # Behind the host's TLS reverse proxy, or for operators over SSH: loopback only.
    "gateway": ["127.0.0.1:8080:8080"],
    "dashboard": ["127.0.0.1:8000:8000"],
    "schema-registry": ["127.0.0.1:8081:8081"],
    "prometheus": ["127.0.0.1:9090:9090"],
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|_KEY$")
NAMES_A_LOCATION = ("_FILE", "_PATH", "_DIR", "_ID")
INTERPOLATION = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:?[?-][^}]*)?\}$")
PINNED_TAG = re.compile(r"^[\w./-]+:(v?\d+(\.\d+)+[\w.-]*)$|^[\w./:-]+@sha256:[0-9a-f]{64}$")


def _project_version() -> str:
    return str(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"])


HUB_IMAGE = f"nrm-hub:{_project_version()}"


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {str(key): str(value) for key, value in raw.items()}


def _server_properties(service: dict[str, Any]) -> dict[str, str]:
    script = service["command"][-1]
    found = re.search(r"cat > /tmp/server\.properties <<EOF\n(.*?)\nEOF", script, re.DOTALL)
    assert found, "the broker writes its server.properties at start"
    env = _env(service)
    properties: dict[str, str] = {}
    for line in found.group(1).splitlines():
        key, value = line.split("=", 1)
        value = value.replace("$$", "$")  # compose's escape of a literal $
        # The shell fills these in from the service's environment at start.
        for name in ("NODE_ID", "EXTERNAL_PORT"):
            value = value.replace(f"${{{name}}}", env[name])
        properties[key] = value
    return properties


def _k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(document, dict), path
            documents.append(document)
    return documents


def _deployments() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in _k8s_documents() if doc["kind"] == "Deployment"}


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def _kustomization() -> dict[str, Any]:
    return next(doc for doc in _k8s_documents() if doc["kind"] == "Kustomization")


def _env_literals() -> dict[str, str]:
    generator = next(
        g for g in _kustomization()["configMapGenerator"] if g["name"] == "nrm-hub-env"
    )
    return dict(literal.split("=", 1) for literal in generator["literals"])


def _resolve_hub_command(args: list[str]) -> Any:
    """Parse ``hub ARGS`` with the real CLI (typer's click): an unknown command or option, or
    a missing argument, raises."""
    assert args[0] == "hub", args
    command: Any = typer.main.get_command(hub_cli)
    path = ["hub"]
    rest = list(args[1:])
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`{' '.join([*path, name])}` is not a hub command"
        command, path = sub, [*path, name]
    runs_alone = getattr(command, "invoke_without_command", False)
    assert runs_alone or not hasattr(command, "commands"), f"`{' '.join(path)}` needs a subcommand"
    return command.make_context(" ".join(path), rest)


def _setting_names() -> tuple[set[str], set[str]]:
    hub = {f"HUB_{name.upper()}" for name in HubSettings.model_fields}
    gateway = {f"HUB_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    return hub, gateway


def _assert_are_settings(names: set[str], where: str) -> None:
    hub, gateway = _setting_names()
    for name in sorted(n for n in names if n.startswith("HUB_")):
        known = gateway if name.startswith("HUB_GATEWAY_") else hub
        assert name in known, f"{where}: {name} is not a field of the settings objects"


def _is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not name.endswith(NAMES_A_LOCATION)


def _health_port(url: str) -> int:
    port = urlparse(url).port
    assert port is not None, url
    return port


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_defines_exactly_the_production_topology(services: dict[str, Any]) -> None:
    assert set(services) == {*LONG_RUNNING, *ONE_SHOT}


def test_three_kafka_nodes_in_kraft_mode_form_one_quorum(services: dict[str, Any]) -> None:
    voters = set()
    node_ids = set()
    for name in KAFKA_NODES:
        service = services[name]
        properties = _server_properties(service)
        assert service["image"].startswith("apache/kafka:")
        assert service["hostname"] == name
        assert properties["process.roles"] == "broker,controller"
        assert "zookeeper.connect" not in properties
        assert properties["node.id"] == name.removeprefix("kafka-")
        node_ids.add(properties["node.id"])
        voters.add(properties["controller.quorum.voters"])
        assert f"CLIENT://{name}:9092" in properties["advertised.listeners"]
    assert node_ids == {"1", "2", "3"}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    clusters = {_env(services[name])["CLUSTER_ID"] for name in KAFKA_NODES}
    assert len(clusters) == 1


def test_replication_factor_three_and_two_in_sync_replicas(services: dict[str, Any]) -> None:
    for name in KAFKA_NODES:
        properties = _server_properties(services[name])
        assert properties["default.replication.factor"] == "3"
        assert properties["min.insync.replicas"] == "2"
        assert properties["offsets.topic.replication.factor"] == "3"
        assert properties["transaction.state.log.replication.factor"] == "3"
        assert properties["transaction.state.log.min.isr"] == "2"
        assert properties["unclean.leader.election.enable"] == "false"
        # Topics are code (hub/contracts/topics.py): a typo must fail, not create a topic.
        assert properties["auto.create.topics.enable"] == "false"
    command = services["topics-init"]["command"]
    assert command[command.index("--replication-factor") + 1] == "3"
    registry_env = _env(services["schema-registry"])
    assert registry_env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == "3"


def test_every_listener_is_authenticated_and_encrypted(services: dict[str, Any]) -> None:
    for name in KAFKA_NODES:
        properties = _server_properties(services[name])
        protocols = dict(
            pair.split(":") for pair in properties["listener.security.protocol.map"].split(",")
        )
        listeners = {entry.split("://")[0] for entry in properties["listeners"].split(",")}
        assert listeners == set(protocols)
        assert set(protocols.values()) <= {"SASL_SSL", "SSL"}, protocols
        assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        for listener, protocol in protocols.items():
            if protocol == "SSL":
                # Brokers and controllers prove themselves with certificates.
                assert properties[f"listener.name.{listener.lower()}.ssl.client.auth"] == "required"
        assert properties["ssl.endpoint.identification.algorithm"] == "https"
    for name in HUB_SERVICES:
        env = _env(services[name])
        if "HUB_BOOTSTRAP_SERVERS" in env:
            assert env["HUB_SECURITY_PROTOCOL"] == "SASL_SSL"
            assert env["HUB_SASL_MECHANISM"] == "SCRAM-SHA-512"
            assert env["HUB_SSL_CAFILE"] == "/run/secrets/kafka_ca"
            assert "kafka_ca" in services[name]["secrets"]


def test_the_authorizer_denies_what_no_acl_allows(services: dict[str, Any]) -> None:
    for name in KAFKA_NODES:
        properties = _server_properties(services[name])
        assert properties["authorizer.class.name"] == (
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        )
        assert properties["allow.everyone.if.no.acl.found"] == "false"
        # The hub's own principals are bound by ACLs like the agencies: only the init jobs'
        # admin and the brokers are super users.
        assert properties["super.users"] == "User:admin;User:kafka-1;User:kafka-2;User:kafka-3"
    assert services["acls-init"]["command"][:3] == ["hub", "acls", "apply"]
    assert "--prune" in services["acls-init"]["command"]


def test_every_image_is_pinned_by_version_or_digest(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert PINNED_TAG.match(image), f"{name}: {image} is not pinned to a version"
        assert not image.endswith(":latest")
    base = [
        line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM")
    ]
    assert base
    assert all(PINNED_TAG.match(image) for image in base), base


def test_the_hub_image_is_built_here_with_the_project_version(services: dict[str, Any]) -> None:
    for name in HUB_SERVICES:
        assert services[name]["image"] == HUB_IMAGE, name
        assert services[name]["build"] == ".", name


@pytest.mark.parametrize("name", [n for n in HUB_SERVICES if n != "registry-init"])
def test_hub_services_run_existing_hub_commands(services: dict[str, Any], name: str) -> None:
    _resolve_hub_command(services[name]["command"])


@pytest.mark.parametrize(
    "args",
    [
        ["hub", "no-such-command"],
        ["hub", "worker", "--no-such-option"],
        ["hub", "topics"],
        ["hub", "topics", "create", "--replication-factor", "three"],
        ["hub", "keys", "generate"],
    ],
)
def test_the_command_check_refuses_what_the_cli_refuses(args: list[str]) -> None:
    with pytest.raises((AssertionError, UsageError)):
        _resolve_hub_command(args)


def test_the_long_running_hub_services_are_the_worker_gateway_and_dashboard(
    services: dict[str, Any],
) -> None:
    assert services["worker"]["command"] == ["hub", "worker"]
    assert services["gateway"]["command"][:2] == ["hub", "gateway"]
    assert services["dashboard"]["command"][:2] == ["hub", "dashboard"]


def test_registry_init_runs_the_committed_import_script(services: dict[str, Any]) -> None:
    command = services["registry-init"]["command"]
    assert command[:2] == ["python", "/app/deploy/registry_import.py"]
    assert "COPY deploy/registry_import.py ./deploy/registry_import.py" in DOCKERFILE.read_text()
    arguments = _registry_import().build_parser().parse_args(command[2:])
    assert arguments.url == "http://schema-registry:8081"


def test_two_workers_and_never_more_than_the_partitions(services: dict[str, Any]) -> None:
    replicas = services["worker"]["deploy"]["replicas"]
    assert replicas == 2
    assert replicas <= DEFAULT_PARTITIONS


def test_ports_are_published_only_where_needed(services: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == PUBLISHED
    for name in KAFKA_NODES:
        properties = _server_properties(services[name])
        (mapping,) = services[name]["ports"]
        external = f"EXTERNAL://:{mapping.split(':')[-1]}"
        assert external in properties["listeners"].split(",")
        assert "EXTERNAL:SASL_SSL" in properties["listener.security.protocol.map"]


def test_every_hub_variable_is_a_field_of_the_settings(services: dict[str, Any]) -> None:
    for name, service in services.items():
        _assert_are_settings(set(_env(service)), f"docker-compose.yml {name}")
    dockerfile_env = set(re.findall(r"\b(HUB_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert dockerfile_env
    _assert_are_settings(dockerfile_env, "Dockerfile")


def test_long_running_services_have_healthchecks_and_restart_policies(
    services: dict[str, Any],
) -> None:
    for name in LONG_RUNNING:
        service = services[name]
        assert service["restart"] in ("unless-stopped", "always"), name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not service["healthcheck"].get("disable", False), name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "on-failure", name


def test_hub_healthchecks_probe_the_port_each_service_serves(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert f":{_env(worker)['HUB_HEALTH_PORT']}/healthz" in worker["healthcheck"]["test"][-1]
    for name in ("gateway", "dashboard"):
        command = services[name]["command"]
        port = command[command.index("--port") + 1]
        assert f"127.0.0.1:{port}/healthz" in services[name]["healthcheck"]["test"][-1]


def test_services_start_in_order_after_the_one_shot_jobs(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            expected = "service_completed_successfully" if dependency in ONE_SHOT else None
            if expected:
                assert rule["condition"] == expected, (name, dependency)
    for name in ("worker", "gateway", "dashboard"):
        assert {"topics-init", "acls-init", "registry-init"} <= set(services[name]["depends_on"])
    registry = services["schema-registry"]["depends_on"]
    assert {"kafka-users-init", "acls-init"} <= set(registry)


def test_no_secret_value_is_written_in_compose(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    for name, service in services.items():
        for key, value in _env(service).items():
            if _is_secret_name(key):
                assert INTERPOLATION.match(value), f"{name}: {key} must come from the env file"
            for password in re.findall(r'password="([^"]*)"', value):
                assert INTERPOLATION.match(password), f"{name}: {key} holds a password"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./deploy/secrets/")


def test_workers_share_one_data_volume_for_the_audit_keys(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert f"hub-data:{_env(worker)['HUB_DATA_DIR']}" in worker["volumes"]
    assert "hub_signing_key" in worker["secrets"]
    assert _env(worker)["HUB_SIGNING_KEY_PATH"] == "/run/secrets/hub_signing_key"


def test_each_hub_service_connects_as_its_own_principal(services: dict[str, Any]) -> None:
    principals = {name: _env(services[name]).get("HUB_SASL_USERNAME") for name in HUB_SERVICES}
    assert principals == {
        "topics-init": "admin",
        "acls-init": "admin",
        "registry-init": None,
        "worker": "hub",
        "gateway": "hub-gateway",
        "dashboard": "hub",
    }
    # The internet-facing gateway never holds the hub's signing key.
    assert "hub_signing_key" not in services["gateway"].get("secrets", [])


def test_the_dashboard_signs_operator_actions_with_their_own_key(services: dict[str, Any]) -> None:
    """The web-facing dashboard holds the operator-action key (re-drives, erasure commands),
    never the hub's: a thief of it cannot forge deliveries, dead letters or audit entries."""
    dashboard = services["dashboard"]
    assert "operator_action_key" in dashboard["secrets"]
    assert "hub_signing_key" not in dashboard["secrets"]
    env = _env(dashboard)
    assert env["HUB_OPERATOR_ACTION_KEY_PATH"] == "/run/secrets/operator_action_key"
    assert "HUB_SIGNING_KEY_PATH" not in env
    assert "operator_action_key" not in services["worker"].get("secrets", [])


def test_prometheus_scrapes_what_the_hub_serves(services: dict[str, Any]) -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker_sd = jobs["nrm-worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"]
    assert str(worker_sd["port"]) == _env(services["worker"])["HUB_HEALTH_PORT"]
    for name in ("gateway", "dashboard"):
        command = services[name]["command"]
        target = f"{name}:{command[command.index('--port') + 1]}"
        assert jobs[f"nrm-{name}"]["static_configs"][0]["targets"] == [target]
    assert any(
        "/prometheus.yml:/etc/prometheus/prometheus.yml" in v
        for v in services["prometheus"]["volumes"]
    )


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert re.match(r"^FROM python:3\.11\.\d+-slim", instructions[0])
    assert "RUN pip install . && rm -rf /src" in instructions
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    # Never the demo keys, the operator's secrets, or the whole build context.
    copies = [line for line in instructions if line.startswith("COPY ")]
    assert not any(re.match(r"COPY \.\s", line) for line in copies)
    assert not any("deploy/config" in line or "secrets" in line for line in copies)


# --- deploy/k8s -------------------------------------------------------------------------------


def test_k8s_manifests_parse_as_named_kubernetes_objects() -> None:
    documents = _k8s_documents()
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == sorted(
        [
            "CronJob",
            "Deployment",
            "Deployment",
            "Deployment",
            "Kustomization",
            "Namespace",
            "PodDisruptionBudget",
            "Service",
            "Service",
        ]
    )
    for doc in documents:
        assert doc.get("apiVersion"), doc
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"].startswith("nrm-hub"), doc["metadata"]


def test_kustomization_lists_every_manifest_and_every_config_file() -> None:
    kustomization = _kustomization()
    manifests = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    config = next(g for g in kustomization["configMapGenerator"] if g["name"] == "nrm-hub-config")
    listed = {(K8S_DIR / f).resolve() for f in config["files"]}
    on_disk = {p.resolve() for p in CONFIG_DIR.glob("*.yaml")} | {
        (CONFIG_DIR / "hub-public-key.txt").resolve(),
        (CONFIG_DIR / "directory-authority-public-key.txt").resolve(),
        (CONFIG_DIR / "operator-actions-public-key.txt").resolve(),
    }
    assert listed == on_disk
    assert not any("dev-keys" in f for f in config["files"])


def test_k8s_images_are_pinned() -> None:
    for name, deployment in _deployments().items():
        for container in _containers(deployment):
            assert container["image"] == HUB_IMAGE, name
    (image,) = _kustomization()["images"]
    assert image["newTag"] == _project_version()


def test_k8s_containers_run_existing_hub_commands() -> None:
    commands = {name: _containers(d)[0]["command"] for name, d in _deployments().items()}
    assert commands["nrm-hub-worker"] == ["hub", "worker"]
    for command in commands.values():
        _resolve_hub_command(command)


def test_k8s_retention_job_runs_daily_with_the_key_store_and_the_hub_key() -> None:
    (job,) = [doc for doc in _k8s_documents() if doc["kind"] == "CronJob"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    _resolve_hub_command(container["command"])
    assert container["command"] == ["hub", "retention", "run"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"  # two runs would chain twice
    assert len(job["spec"]["schedule"].split()) == 5
    env = {e["name"]: e for e in container["env"]}
    _assert_are_settings(set(env), "deploy/k8s retention")
    assert env["HUB_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "nrm-hub-kafka"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The workers' key store: the HSM of nrm-hub-env's HUB_KEY_STORE, the same PIN Secret.
    assert {"configMapRef": {"name": "nrm-hub-env"}} in container["envFrom"]
    assert env["HUB_PKCS11_PIN"]["valueFrom"]["secretKeyRef"]["name"] == "nrm-hub-hsm"


def test_k8s_probes_check_health_and_readiness_on_the_served_port() -> None:
    for name, deployment in _deployments().items():
        (container,) = _containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        liveness = container["livenessProbe"]["httpGet"]
        readiness = container["readinessProbe"]["httpGet"]
        assert liveness["path"] == "/healthz", name
        assert readiness["path"] == "/readyz", name
        assert liveness["port"] in ports, name
        assert readiness["port"] in ports, name
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if name == "nrm-hub-worker":
            assert str(ports[liveness["port"]]) == env["HUB_HEALTH_PORT"]
        else:
            command = container["command"]
            assert str(ports[liveness["port"]]) == command[command.index("--port") + 1]


def test_k8s_containers_have_requests_limits_and_no_root() -> None:
    for name, deployment in _deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, (name, bound)
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_k8s_secrets_are_only_referenced_never_written() -> None:
    documents = _k8s_documents()
    assert not any(doc["kind"] == "Secret" for doc in documents)
    for name, deployment in _deployments().items():
        for container in _containers(deployment):
            for entry in container.get("env", []):
                if _is_secret_name(entry["name"]):
                    assert "value" not in entry, (name, entry["name"])
                    assert "secretKeyRef" in entry["valueFrom"], (name, entry["name"])
            env = {e["name"]: e for e in container["env"]}
            assert env["HUB_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "nrm-hub-kafka"
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                assert set(volume["secret"]) <= {"secretName", "items", "defaultMode"}
    for literal in _env_literals():
        assert not _is_secret_name(literal), literal


def test_k8s_hub_variables_are_fields_of_the_settings() -> None:
    names = set(_env_literals())
    for deployment in _deployments().values():
        for container in _containers(deployment):
            names |= {entry["name"] for entry in container.get("env", [])}
    _assert_are_settings(names, "deploy/k8s")


def test_k8s_workers_scale_with_partitions_and_survive_a_drain() -> None:
    worker = _deployments()["nrm-hub-worker"]
    replicas = worker["spec"]["replicas"]
    assert 1 <= replicas <= DEFAULT_PARTITIONS
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    (pdb,) = [doc for doc in _k8s_documents() if doc["kind"] == "PodDisruptionBudget"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < replicas


def test_k8s_keeps_audit_keys_in_the_hsm_and_shares_no_volume() -> None:
    assert not [doc for doc in _k8s_documents() if doc["kind"] == "PersistentVolumeClaim"]
    literals = dict(
        line.split("=", 1)
        for generator in _kustomization()["configMapGenerator"]
        if generator["name"] == "nrm-hub-env"
        for line in generator["literals"]
    )
    assert HubSettings(**{"key_store": literals["HUB_KEY_STORE"]}).key_store is KeyStoreKind.PKCS11
    for name in ("nrm-hub-worker", "nrm-hub-dashboard"):
        spec = _deployments()[name]["spec"]["template"]["spec"]
        assert all("persistentVolumeClaim" not in v for v in spec["volumes"]), name
        (container,) = spec["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["HUB_PKCS11_PIN"]["valueFrom"]["secretKeyRef"]["name"] == "nrm-hub-hsm"


# --- deploy/registry_import.py ----------------------------------------------------------------


@lru_cache(maxsize=1)
def _registry_import() -> ModuleType:
    """deploy/registry_import.py is a script, not a package module: load it by path."""
    path = PROJECT_ROOT / "deploy" / "registry_import.py"
    spec = importlib.util.spec_from_file_location("registry_import", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while being created
    spec.loader.exec_module(module)
    return module


class FakeConfluentRegistry:
    """The part of Confluent Schema Registry's REST API the import uses, with its rules:
    READWRITE picks ids itself, IMPORT takes given ids, IMPORT on a non-empty registry needs
    force, READONLY refuses every write but a mode change."""

    def __init__(self) -> None:
        self.mode = "READWRITE"
        self.compatibility = "BACKWARD"
        self.schemas: dict[int, str] = {}
        self.versions: dict[str, dict[int, int]] = {}
        self.writes: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else {}
        if method != "GET":
            self.writes.append(f"{method} {path}")
        if path == "/mode":
            if method == "PUT":
                force = request.url.params.get("force") == "true"
                if body["mode"] == "IMPORT" and self.schemas and not force:
                    return self._error(422, 42205, "Cannot import since found existing subjects")
                self.mode = body["mode"]
            return httpx.Response(200, json={"mode": self.mode})
        if path == "/config":
            if method == "PUT":
                if self.mode == "READONLY":
                    return self._error(422, 42205, "Subject is in read-only mode")
                self.compatibility = body["compatibility"]
                return httpx.Response(200, json={"compatibility": self.compatibility})
            return httpx.Response(200, json={"compatibilityLevel": self.compatibility})
        if match := re.fullmatch(r"/schemas/ids/(\d+)", path):
            schema_id = int(match.group(1))
            if schema_id not in self.schemas:
                return self._error(404, 40403, "Schema not found")
            return httpx.Response(200, json={"schema": self.schemas[schema_id]})
        if match := re.fullmatch(r"/subjects/([^/]+)/versions/(\d+)", path):
            subject, version = match.group(1), int(match.group(2))
            if subject not in self.versions:
                return self._error(404, 40401, "Subject not found")
            if version not in self.versions[subject]:
                return self._error(404, 40402, "Version not found")
            schema_id = self.versions[subject][version]
            served = {"subject": subject, "version": version, "id": schema_id}
            return httpx.Response(200, json={**served, "schema": self.schemas[schema_id]})
        if (match := re.fullmatch(r"/subjects/([^/]+)/versions", path)) and method == "POST":
            return self._register(match.group(1), body)
        return self._error(404, 404, f"no route {method} {path}")

    def _register(self, subject: str, body: dict[str, Any]) -> httpx.Response:
        if self.mode == "READONLY":
            return self._error(422, 42205, "Subject is in read-only mode")
        versions = self.versions.setdefault(subject, {})
        if self.mode == "IMPORT":
            schema_id, version = int(body["id"]), int(body["version"])
            if self.schemas.get(schema_id, body["schema"]) != body["schema"]:
                return self._error(422, 42207, "Overwrite new schema is not permitted")
        else:
            schema_id = max(self.schemas, default=0) + 1
            version = max(versions, default=0) + 1
        self.schemas[schema_id] = body["schema"]
        versions[version] = schema_id
        return httpx.Response(200, json={"id": schema_id})

    @staticmethod
    def _error(status: int, code: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"error_code": code, "message": message})


@pytest.fixture
def fake_registry() -> Iterator[tuple[FakeConfluentRegistry, httpx.Client]]:
    registry = FakeConfluentRegistry()
    transport = httpx.MockTransport(registry.handler)
    with httpx.Client(transport=transport, base_url="http://registry:8081") as client:
        yield registry, client


def test_import_registers_every_schema_under_its_committed_id(
    fake_registry: tuple[FakeConfluentRegistry, httpx.Client],
) -> None:
    registry, client = fake_registry
    importer = _registry_import()
    assert importer.run(client, SCHEMAS_DIR) == 0
    committed = SchemaRegistry.load(SCHEMAS_DIR)
    for schema in committed:
        assert registry.versions[schema.subject][schema.version] == schema.schema_id
        assert json.loads(registry.schemas[schema.schema_id]) == schema.schema
    assert registry.mode == "READONLY"
    assert registry.compatibility == "BACKWARD_TRANSITIVE"


def test_import_again_writes_nothing(
    fake_registry: tuple[FakeConfluentRegistry, httpx.Client],
) -> None:
    registry, client = fake_registry
    importer = _registry_import()
    assert importer.run(client, SCHEMAS_DIR) == 0
    registry.writes.clear()
    assert importer.run(client, SCHEMAS_DIR) == 0
    assert registry.writes == []


def test_import_completes_a_registry_that_has_the_older_ids(
    fake_registry: tuple[FakeConfluentRegistry, httpx.Client], tmp_path: Path
) -> None:
    registry, client = fake_registry
    importer = _registry_import()
    older = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, older)
    manifest = json.loads((older / "registry.json").read_text())
    manifest["subjects"]["fr.nrm.DeadLetter"] = manifest["subjects"]["fr.nrm.DeadLetter"][:1]
    (older / "registry.json").write_text(json.dumps(manifest))
    assert importer.run(client, older) == 0
    assert registry.versions["fr.nrm.DeadLetter"] == {1: 7}
    # The registry is now READONLY and holds ids: the import forces IMPORT mode to add the rest.
    assert importer.run(client, SCHEMAS_DIR) == 0
    committed = json.loads((SCHEMAS_DIR / "registry.json").read_text())["subjects"]
    assert registry.versions["fr.nrm.DeadLetter"] == {
        v["version"]: v["id"] for v in committed["fr.nrm.DeadLetter"]
    }
    assert registry.mode == "READONLY"


def test_import_refuses_a_registry_where_a_committed_id_holds_another_schema(
    fake_registry: tuple[FakeConfluentRegistry, httpx.Client],
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry, client = fake_registry
    # A registry used without IMPORT mode: it picked id 7 for whatever came first.
    for _ in range(7):
        registry._register("someone.Else", {"schema": '{"type":"string"}'})
    registry.writes.clear()
    assert _registry_import().run(client, SCHEMAS_DIR) == 1
    assert "holds another schema" in capsys.readouterr().err
    assert registry.writes == []


def test_verification_passes_against_the_embedded_registry_rest_api() -> None:
    embedded = create_registry_app(SchemaRegistry.load(SCHEMAS_DIR))
    with TestClient(embedded) as client:
        assert _registry_import().run(client, SCHEMAS_DIR, verify_only=True) == 0


def test_verification_reports_an_id_that_differs_from_the_commit(tmp_path: Path) -> None:
    drifted = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, drifted)
    manifest = json.loads((drifted / "registry.json").read_text())
    manifest["subjects"]["fr.nrm.Acknowledgement"][0]["id"] = 3
    (drifted / "registry.json").write_text(json.dumps(manifest))
    embedded = create_registry_app(SchemaRegistry.load(SCHEMAS_DIR))
    with TestClient(embedded) as client:
        assert _registry_import().run(client, drifted, verify_only=True) == 1


def test_import_needs_the_committed_registry(tmp_path: Path) -> None:
    assert (
        _registry_import().main(["--url", "http://registry:8081", "--schemas-dir", str(tmp_path)])
        == 2
    )
