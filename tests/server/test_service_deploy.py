"""deploy/: the Kubernetes manifests and the image recipe agree with the service and each other
(command, port, probes, store, environment variables, the deploy-time compile, resources). Whether
they are valid Kubernetes objects is checked against Kubernetes' own schemas by `make lint`
(kubernetes-validate), not here."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml
from support import REPO

from server.__main__ import parse_settings
from server.settings import FLUID_MOUNT_PATH_ENV, OPTIONS, PLUGIN_STORE_ENV
from wasmedge_py.compiler import CACHE_ENV
from wasmedge_py.limits import DEFAULT_MAX_MEMORY_PAGES, DEFAULT_MAX_STACK_BYTES

DEPLOY = REPO / "deploy"


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    return {d["kind"]: d for d in documents}


@pytest.fixture(scope="module")
def pod(manifests) -> dict:
    return manifests["Deployment"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod) -> dict:
    (container,) = pod["containers"]
    return container


@pytest.fixture(scope="module")
def compile_step(pod) -> dict:
    (init,) = pod["initContainers"]
    return init


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instructions(dockerfile, name: str) -> list[str]:
    return [args for instruction, args in dockerfile if instruction == name]


def plain_env(container, manifests) -> dict[str, str]:
    """The container's environment with a value in the manifests: its ConfigMaps, then its own."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        (config_map,) = [m for m in manifests.values() if m["kind"] == "ConfigMap"]
        assert source["configMapRef"]["name"] == config_map["metadata"]["name"]
        env.update(config_map["data"])
    return env | {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_only_known_environment_variables(container, compile_step, manifests):
    known = {o.env for o in OPTIONS} | {PLUGIN_STORE_ENV, FLUID_MOUNT_PATH_ENV, CACHE_ENV}
    for step in (container, compile_step):
        assert {e["name"] for e in step["env"]} | set(plain_env(step, manifests)) <= known


def test_command_is_the_documented_one_and_parses(container, dockerfile, manifests):
    assert container["command"][-2:] == ["-m", "server"]
    assert json.loads(instructions(dockerfile, "CMD")[-1]) == container["command"]  # the image's own command
    settings = parse_settings(container["args"], environ=plain_env(container, manifests))
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.store_kind == "fluid"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "plugins"]
    assert str(settings.plugins) == mount["mountPath"] and mount["readOnly"] is True


def test_port_and_probes(container, manifests):
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": 8080}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ("http", 8080)
    service = manifests["Service"]["spec"]
    assert service["ports"][0]["targetPort"] in ("http", 8080)
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    assert manifests["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_plugins_come_from_a_shared_volume(manifests, pod):
    assert manifests["Deployment"]["spec"]["replicas"] > 1
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["plugins"]["persistentVolumeClaim"]["readOnly"] is True


def mounts(container) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container["volumeMounts"]}


def test_the_init_container_compiles_the_served_store_into_the_servers_cache(pod, container, compile_step, manifests):
    """Same image, same settings and store, same cache directory: what it compiles is what the
    server looks up (test_deploy_compile.py checks that this gives cache hits); --warm then gates readiness."""
    assert compile_step["image"] == container["image"]
    command = compile_step["command"]
    assert command[0] == "/app/.venv/bin/wasmedge-py" and command[1:3] == ["compile", "--store"]
    server_settings = parse_settings(container["args"], environ=plain_env(container, manifests))
    assert server_settings.warm is True
    assert command[3] == str(server_settings.plugins)
    compile_env = plain_env(compile_step, manifests)
    assert compile_env == plain_env(container, manifests)
    cache = compile_env[CACHE_ENV]
    assert mounts(compile_step)["aot-cache"] == mounts(container)["aot-cache"] == os.path.dirname(cache)
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["aot-cache"]
    assert pod["securityContext"]["runAsUser"] == 10001  # both containers: the cache must be their own


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_resources_fit_the_workers(container, compile_step, manifests):
    """The arithmetic in kubernetes.yaml's header: workers = limits.cpu, a core each, and memory for
    each worker's plugin (linear memory + stack at the default limits) and the queued bodies."""
    for step in (container, compile_step):
        (workers,) = [e for e in step["env"] if e["name"] == "WASMEDGE_PY_WORKERS"]
        field = workers["valueFrom"]["resourceFieldRef"]
        assert field["resource"] == "limits.cpu" and field.get("containerName", step["name"]) == step["name"]
        assert cpus(step["resources"]["requests"]["cpu"]) == cpus(step["resources"]["limits"]["cpu"]) >= 1
    workers = int(cpus(container["resources"]["limits"]["cpu"]))
    settings = parse_settings(container["args"], environ=plain_env(container, manifests))
    per_worker = DEFAULT_MAX_MEMORY_PAGES * 64 * 1024 + DEFAULT_MAX_STACK_BYTES
    needed = 100 * 2**20 + workers * per_worker + settings.queue * settings.max_body  # 100 MiB: the process itself
    assert mebibytes(container["resources"]["requests"]["memory"]) * 2**20 >= needed
    assert mebibytes(container["resources"]["limits"]["memory"]) >= mebibytes(
        container["resources"]["requests"]["memory"]
    )


def test_disruption_budget_keeps_replicas_serving(manifests):
    budget = manifests["PodDisruptionBudget"]["spec"]
    assert budget["selector"] == manifests["Deployment"]["spec"]["selector"]
    assert budget["maxUnavailable"] < manifests["Deployment"]["spec"]["replicas"]


def test_grace_periods_fit(manifests, pod, container):
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    service_grace = parse_settings(container["args"], environ=plain_env(container, manifests)).grace
    assert pre_stop + service_grace < pod["terminationGracePeriodSeconds"]


def test_image_recipe(dockerfile):
    assert instructions(dockerfile, "FROM") == ["debian:bookworm-slim"]
    assert any("scripts/setup.sh" in run for run in instructions(dockerfile, "RUN"))
    assert instructions(dockerfile, "EXPOSE") == ["8080"]
    env = " ".join(instructions(dockerfile, "ENV"))
    assert "WASMEDGE_PY_HOST=0.0.0.0" in env and "WASMEDGE_PY_PORT=8080" in env
    assert any("/healthz" in check for check in instructions(dockerfile, "HEALTHCHECK"))
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_image_has_a_private_aot_cache_where_kubernetes_mounts_one(dockerfile, manifests):
    cache = manifests["ConfigMap"]["data"][CACHE_ENV]
    env = " ".join(instructions(dockerfile, "ENV"))
    assert f"{CACHE_ENV}={cache}" in env and "WASMEDGE_PY_WARM=1" in env
    assert any(f"-m 0700 {os.path.dirname(cache)}" in run for run in instructions(dockerfile, "RUN"))
