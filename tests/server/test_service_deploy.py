"""deploy/: the Kubernetes manifests and the image recipe agree with the service and each other
(command, port, probes, store, environment variables)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from support import REPO

from server.__main__ import parse_settings
from server.settings import FLUID_MOUNT_PATH_ENV, OPTIONS, PLUGIN_STORE_ENV

DEPLOY = REPO / "deploy"


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    return {d["kind"]: d for d in documents}


@pytest.fixture(scope="module")
def container(manifests) -> dict:
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instructions(dockerfile, name: str) -> list[str]:
    return [args for instruction, args in dockerfile if instruction == name]


def plain_env(container) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_only_known_environment_variables(container):
    known = {o.env for o in OPTIONS} | {PLUGIN_STORE_ENV, FLUID_MOUNT_PATH_ENV}
    assert {e["name"] for e in container["env"]} <= known


def test_command_is_the_documented_one_and_parses(container, dockerfile):
    assert container["command"][-2:] == ["-m", "server"]
    assert json.loads(instructions(dockerfile, "CMD")[-1]) == container["command"]  # the image's own command
    settings = parse_settings(container["args"], environ=plain_env(container))
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.store_kind == "fluid"
    (mount,) = container["volumeMounts"]
    assert str(settings.plugins) == mount["mountPath"] and mount["readOnly"] is True


def test_port_and_probes(container, manifests):
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": 8080}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["port"] in ("http", 8080)
    service = manifests["Service"]["spec"]
    assert service["ports"][0]["targetPort"] in ("http", 8080)
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    assert manifests["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_plugins_come_from_a_shared_volume(manifests, container):
    spec = manifests["Deployment"]["spec"]
    assert spec["replicas"] > 1
    (volume,) = spec["template"]["spec"]["volumes"]
    assert volume["name"] == container["volumeMounts"][0]["name"]
    assert volume["persistentVolumeClaim"]["readOnly"] is True


def test_grace_periods_fit(manifests, container):
    pod_grace = manifests["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    service_grace = parse_settings(container["args"], environ=plain_env(container)).grace
    assert pre_stop + service_grace < pod_grace


def test_image_recipe(dockerfile):
    assert instructions(dockerfile, "FROM") == ["debian:bookworm-slim"]
    assert any("scripts/setup.sh" in run for run in instructions(dockerfile, "RUN"))
    assert instructions(dockerfile, "EXPOSE") == ["8080"]
    env = " ".join(instructions(dockerfile, "ENV"))
    assert "WASMEDGE_PY_HOST=0.0.0.0" in env and "WASMEDGE_PY_PORT=8080" in env
    assert any("/healthz" in check for check in instructions(dockerfile, "HEALTHCHECK"))
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
