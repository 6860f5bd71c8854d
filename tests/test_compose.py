"""docker-compose.yml and the Dockerfile: structure checks that run without Docker.

The Docker engine cannot run in CI and the `docker compose` plugin is not installed there, so `docker compose
config` cannot validate the file; these tests load the YAML (anchors and merge keys resolved, as Compose does)
and check what the services need to work together.
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
LIVECART_ENV = {"LIVECART_BROKER": "kafka://kafka:9092", "LIVECART_REDIS_URL": "redis://redis:6379/0"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _listeners(value: str) -> dict[str, int]:
    """``NAME://host:port,...`` -> {NAME: port}."""
    out: dict[str, int] = {}
    for item in value.split(","):
        name, _, address = item.partition("://")
        out[name] = int(address.rsplit(":", 1)[1])
    return out


def test_services_and_images(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"kafka", "redis", "worker", "dashboard"}
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")


def test_kafka_is_a_consistent_single_node_kraft_cluster(services: dict[str, dict[str, Any]]) -> None:
    env = {key: str(value) for key, value in services["kafka"]["environment"].items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # The voter is this node, on the controller listener's port.
    node, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert node == env["KAFKA_NODE_ID"]
    assert voter == f"kafka:{listeners[env['KAFKA_CONTROLLER_LISTENER_NAMES']]}"
    # Other containers use kafka:9092, as LIVECART_BROKER says; the host port is published and advertised.
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    host_port = advertised["HOST"]
    assert f"{host_port}:{listeners['HOST']}" in services["kafka"]["ports"]
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", f"{key}: one broker cannot hold more than one replica"
    assert env["KAFKA_NUM_PARTITIONS"] == "4"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "a Kafka cluster id is 16 bytes"


@pytest.mark.parametrize("name", ["worker", "dashboard"])
def test_livecart_services_reach_kafka_and_redis(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    env = service["environment"]
    for key, value in LIVECART_ENV.items():
        assert env[key] == value
    assert service["build"] == "."
    assert service["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for dependency in ("kafka", "redis"):
        assert "healthcheck" in services[dependency], f"{dependency}: service_healthy needs a healthcheck"


def test_worker_and_dashboard_commands(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker"]["command"] == ["faust", "-A", "streams.app", "worker", "-l", "info"]
    dashboard = services["dashboard"]
    assert dashboard["command"][:2] == ["livecart", "dashboard"]
    assert "8080:8080" in dashboard["ports"]
    # Bound to loopback (the default) the published port would reach nothing.
    assert dashboard["environment"]["LIVECART_DASHBOARD_HOST"] == "0.0.0.0"
    assert str(dashboard["environment"]["LIVECART_DASHBOARD_PORT"]) == "8080"


def test_livecart_variables_exist_in_the_code(compose: dict[str, Any]) -> None:
    """A misspelt variable would be silently ignored; every LIVECART_* one must be read somewhere in streams/."""
    used = set(re.findall(r"LIVECART_[A-Z_]+", COMPOSE.read_text()))
    source = "\n".join(path.read_text() for path in (REPO / "streams").rglob("*.py"))
    missing = sorted(name for name in used if name not in source)
    assert not missing, f"docker-compose.yml sets variables no code reads: {missing}"


def test_dockerfile_installs_the_packages_it_runs() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11", text, re.MULTILINE)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    # Every package setuptools installs must be copied into the build, or `pip install .` ships without it.
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} ", text, re.MULTILINE), f"Dockerfile does not COPY {package}/"
    assert "livecart" in pyproject["project"]["scripts"], "the dashboard service runs the `livecart` script"
    assert (REPO / "streams" / "app.py").is_file(), "the worker runs `faust -A streams.app`"
    assert "faust-streaming" in " ".join(pyproject["project"]["dependencies"]), "the worker runs the `faust` script"
