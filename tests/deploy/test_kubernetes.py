"""deploy/kubernetes: the kustomization rendered as `kubectl apply -k` renders it, every document
validated against Kubernetes' schemas (kubernetes-validate) and the KEDA ScaledObject against a
schema generated from KEDA's CRD (cloudcoil-models-keda), then the references that no schema sees:
labels and selectors, the autoscaler's stream and target, environment names against
server/config.py, probe paths against the app's routes, the graceful stop against the code.

What this cannot check: that a cluster schedules the pods, that the image starts under these
security settings, that KEDA reaches Redis, or KEDA's own run-time checks of a trigger's metadata
(its keys are checked here against the scaler's documented parameters).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.support.redisdb import RedisServer
from tests.support.servers import ROOT
from vidpulse.server.api.auth import OPEN_PATHS
from vidpulse.server.app import create_app
from vidpulse.server.cli import _uvicorn_on
from vidpulse.server.config import Settings
from vidpulse.server.jobs.pool import WorkerProcess
from vidpulse.server.notify.signing import parse_secret
from vidpulse.server.notify.webhooks import startup_problem

DEPLOY = ROOT / "deploy" / "kubernetes"
# What the loader below understands; anything else in kustomization.yaml (patches, generators,
# images, labels) would change the rendering, so it fails the test until the loader learns it.
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources"}
CLUSTER_SCOPED = {"Namespace"}
# The oldest Kubernetes the manifests claim (KEDA 2.16's oldest supported) and the newest schemas bundled.
K8S_VERSIONS = ("1.29", latest_version())
# Not Settings, yet read by the service: obstore takes its S3 credentials and region from these
# (docs/deployment.md lists them).
AWS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}
# The redis-streams scaler's parameters (keda.sh/docs/2.16/scalers/redis-streams and KEDA's
# pkg/scalers/redis_streams_scaler.go).
REDIS_STREAMS_KEYS = {
    "address", "host", "port", "addressFromEnv", "hostFromEnv", "portFromEnv", "usernameFromEnv",
    "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount", "streamLength", "lagCount",
    "activationLagCount", "databaseIndex", "enableTLS", "unsafeSsl",
}
PLACEHOLDER = "REPLACE-ME"


@functools.cache
def rendered() -> tuple[dict[str, Any], ...]:
    """The documents `kubectl apply -k deploy/kubernetes` sends: every file of `resources`, in order,
    with `namespace` set on each namespaced object (kustomize's namespace transformer)."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unknown, f"kustomization.yaml uses {sorted(unknown)}, which this test does not render"
    namespace = kustomization.get("namespace")
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc)
    for doc in docs:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = namespace
    return tuple(docs)


def one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in rendered() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in rendered() if d["kind"] == kind]


def doc_id(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def vidpulse_containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, container) for every container that runs the vidpulse command."""
    return [(d, c) for d in of_kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]
            if c.get("args", [""])[0] == "vidpulse"]


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env on top."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            env.update(one("Secret", source["secretRef"]["name"])["stringData"])
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return env


def worker_slots() -> int:
    worker = one("Deployment", "vidpulse-worker")
    return int(environment(worker["spec"]["template"]["spec"]["containers"][0])["WORKERS"])


def scaler_trigger() -> dict[str, Any]:
    (scaled,) = of_kind("ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    return trigger  # type: ignore[no-any-return]


# Rendering and schemas ---------------------------------------------------------------------------


def test_the_rendering_matches_kubectl_kustomize() -> None:
    """The loader above against the real kustomize, where kubectl is installed (it renders offline)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the rendering is checked against the loader alone")
    output = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60,
                            check=True).stdout

    def key(doc: dict[str, Any]) -> str:
        return json.dumps(doc, sort_keys=True)

    theirs = [doc for doc in yaml.safe_load_all(output) if doc]
    assert sorted(map(key, theirs)) == sorted(map(key, rendered()))


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", [d for d in rendered() if d["kind"] != "ScaledObject"], ids=doc_id)
def test_each_document_validates_against_the_kubernetes_schema(doc: dict[str, Any], version: str) -> None:
    # strict: unknown fields are errors, as kubectl's default field validation makes them.
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:  # its text would hold the whole schema
        pytest.fail(f"{doc_id(doc)} at {'.'.join(map(str, exc.absolute_path))}: {exc.message}")


def test_kubernetes_validate_has_no_schema_for_the_scaled_object() -> None:
    """Why the ScaledObject takes the other path below (and a reminder to use the bundled schema
    once kubernetes-validate has one)."""
    (scaled,) = of_kind("ScaledObject")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(scaled, K8S_VERSIONS[-1], strict=True)


def _forbid_unknown_fields(schema: Any) -> None:
    """additionalProperties: false on every object with declared properties, in place: the models
    ignore unknown fields, kubectl's strict field validation refuses them."""
    if isinstance(schema, dict):
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            _forbid_unknown_fields(value)
    elif isinstance(schema, list):
        for value in schema:
            _forbid_unknown_fields(value)


def test_the_scaled_object_validates_against_keda_s_crd_schema() -> None:
    """cloudcoil-models-keda's models are generated from KEDA's CRDs (2.16.1); their JSON schema
    carries the CRD's field names, types, required fields and bounds. KEDA's CEL rules are not in
    it, and a trigger's metadata is a map of strings to KEDA (checked in the next tests)."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    schema = ScaledObject.model_json_schema(by_alias=True)
    _forbid_unknown_fields(schema)
    for scaled in of_kind("ScaledObject"):
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in jsonschema.Draft202012Validator(schema).iter_errors(scaled)]
        assert not errors, errors
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"


def test_the_crd_schema_check_can_fail() -> None:
    """The schema above refuses what KEDA would: a misspelt field, a number where it wants a string."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    schema = ScaledObject.model_json_schema(by_alias=True)
    _forbid_unknown_fields(schema)
    validator = jsonschema.Draft202012Validator(schema)
    (scaled,) = of_kind("ScaledObject")
    misspelt = json.loads(json.dumps(scaled))
    misspelt["spec"]["maxReplicas"] = misspelt["spec"].pop("maxReplicaCount")
    not_a_string = json.loads(json.dumps(scaled))
    not_a_string["spec"]["triggers"][0]["metadata"]["streamLength"] = 2
    assert not validator.is_valid(misspelt)
    assert not validator.is_valid(not_a_string)


# The autoscaler ----------------------------------------------------------------------------------


def test_the_scaler_targets_the_worker_deployment() -> None:
    (scaled,) = of_kind("ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    # KEDA's defaults for a missing apiVersion and kind: apps/v1, Deployment.
    assert (target.get("apiVersion", "apps/v1"), target.get("kind", "Deployment")) == ("apps/v1", "Deployment")
    worker = one("Deployment", target["name"])
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["vidpulse", "worker"]
    # A replicas field would be re-applied over the autoscaler's choice by every `kubectl apply`.
    assert "replicas" not in worker["spec"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_the_trigger_reads_the_job_stream_of_the_configured_redis() -> None:
    from vidpulse.server.backends.redis.connection import Keys

    trigger = scaler_trigger()
    metadata = trigger["metadata"]
    assert trigger["type"] == "redis-streams"
    assert set(metadata) <= REDIS_STREAMS_KEYS, set(metadata) - REDIS_STREAMS_KEYS
    assert metadata["stream"] == Keys().jobs
    # With a consumerGroup KEDA counts XPENDING or the group's lag, not XLEN (see worker-autoscaler.yaml).
    assert "consumerGroup" not in metadata and "lagCount" not in metadata
    # One pod per WORKERS unfinished jobs: every job waiting or running has a slot.
    assert int(metadata["streamLength"]) == worker_slots()

    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    url = urlsplit(one("ConfigMap", "vidpulse-config")["data"]["REDIS_URL"])
    host, _, port = metadata["address"].rpartition(":")
    # KEDA's operator runs in its own namespace: the Service's name must be qualified with ours.
    assert host.split(".")[:3] == [url.hostname, kustomization["namespace"], "svc"]
    assert int(port) == (url.port or 6379)
    assert int(metadata.get("databaseIndex", "0")) == int(url.path.strip("/") or 0)
    redis_service = one("Service", str(url.hostname))
    assert [p["port"] for p in redis_service["spec"]["ports"]] == [int(port)]


def test_the_redis_image_reports_a_stream_s_length_and_is_version_7_or_newer() -> None:
    (container,) = one("Deployment", "redis")["spec"]["template"]["spec"]["containers"]
    image, _, tag = container["image"].partition(":")
    assert image == "redis"
    assert int(re.match(r"\d+", tag).group()) >= 7  # type: ignore[union-attr]


# Labels, selectors, ports ------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=doc_id)
def test_a_deployment_selects_its_own_pods(deployment: dict[str, Any]) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    others = [d for d in of_kind("Deployment") if d is not deployment]
    assert not any(selects(deployment["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
                   for d in others)


def test_the_api_service_reaches_the_api_pods_only() -> None:
    service = one("Service", "vidpulse-api")
    reached = [d for d in of_kind("Deployment")
               if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
    assert [doc_id(d) for d in reached] == ["Deployment/vidpulse-api"]
    (container,) = reached[0]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in ports
    assert ports[port["targetPort"]] == int(environment(container)["PORT"])


@pytest.mark.parametrize("budget", of_kind("PodDisruptionBudget"), ids=doc_id)
def test_a_disruption_budget_covers_one_deployment(budget: dict[str, Any]) -> None:
    covered = [d for d in of_kind("Deployment")
               if selects(budget["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])]
    assert [d["metadata"]["name"] for d in covered] == [budget["metadata"]["name"]]


# Configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("deployment", "container"), vidpulse_containers(),
                         ids=[doc_id(d) for d, _ in vidpulse_containers()])
def test_every_variable_is_a_setting_and_the_whole_is_valid(deployment: dict[str, Any],
                                                            container: dict[str, Any]) -> None:
    env = environment(container)
    settings_names = {name.upper() for name in inspect.signature(Settings).parameters}
    unknown = set(env) - settings_names - AWS_VARIABLES
    assert not unknown, f"not settings of server/config.py: {sorted(unknown)}"
    settings = Settings.from_env(env)  # raises ConfigError as the process would, exit 2
    assert asyncio.run(startup_problem(settings)) is None
    assert settings.backend == "redis" and settings.storage == "s3"
    # Every mount of DATA_DIR is the pod's own scratch: the bucket holds the sessions.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[str(settings.data_dir)]]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_aws_variables_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    assert all(f"`{name}`" in text for name in AWS_VARIABLES)


def test_the_api_listens_for_the_probes_and_runs_no_analysis() -> None:
    (container,) = one("Deployment", "vidpulse-api")["spec"]["template"]["spec"]["containers"]
    settings = Settings.from_env(environment(container))
    assert settings.host == "0.0.0.0"  # the default, 127.0.0.1, is out of the kubelet's reach
    assert container["args"] == ["vidpulse", "serve"] and settings.workers <= 1


def test_the_secret_holds_placeholders_that_the_service_accepts() -> None:
    """No real credential is committed, and the demo still starts with the placeholders."""
    secret = one("Secret", "vidpulse-secrets")["stringData"]
    for name, value in secret.items():
        if name == "WEBHOOK_SECRET":
            assert PLACEHOLDER in parse_secret(value).decode()
        else:
            assert PLACEHOLDER in value, name
    assert base64.b64decode(secret["WEBHOOK_SECRET"].removeprefix("whsec_"))


@pytest.mark.parametrize(("deployment", "container"), vidpulse_containers(),
                         ids=[doc_id(d) for d, _ in vidpulse_containers()])
def test_the_command_is_a_vidpulse_subcommand(deployment: dict[str, Any], container: dict[str, Any],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from vidpulse.server.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*container["args"][1:], "--help"])
    assert exit_info.value.code == 0


# Probes and the graceful stop --------------------------------------------------------------------


async def test_the_api_probes_ask_real_open_paths() -> None:
    (container,) = one("Deployment", "vidpulse-api")["spec"]["template"]["spec"]["containers"]
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    port_names = {p["name"] for p in container["ports"]}
    # With API_KEYS set (the Secret sets them) the probes still get an answer, not 401; and each
    # path is a route (no 404). No lifespan here: /readyz fails inside for want of a runtime.
    transport = httpx.ASGITransport(create_app(Settings(api_keys=("k",), workers=0)), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        for probe in probes.values():
            assert probe["port"] in port_names
            assert probe["path"] in OPEN_PATHS
            assert (await client.get(probe["path"])).status_code not in (401, 404, 405)
        assert (await client.get("/healthz")).status_code == 200


def test_the_worker_has_no_http_probe() -> None:
    (container,) = one("Deployment", "vidpulse-worker")["spec"]["template"]["spec"]["containers"]
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(container)
    assert "ports" not in container


def test_the_api_grace_covers_the_pre_stop_pause_and_uvicorn_s_shutdown() -> None:
    spec = one("Deployment", "vidpulse-api")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    with socket.socket() as listener:
        server = _uvicorn_on(listener, create_app(Settings(workers=0)), Settings())
    uvicorn_grace = server.config.timeout_graceful_shutdown
    assert uvicorn_grace is not None
    # A few seconds beyond both for closing Redis and the bucket client.
    assert spec["terminationGracePeriodSeconds"] >= float(command[1]) + uvicorn_grace + 3


def test_the_worker_grace_covers_stopping_its_processes_not_its_jobs() -> None:
    spec = one("Deployment", "vidpulse-worker")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    settings = Settings.from_env(environment(container))
    stop_grace = inspect.signature(WorkerProcess.stop).parameters["grace_s"].default
    # Each analysis process gets the grace twice (ask, then kill), in parallel; room for the rest.
    assert spec["terminationGracePeriodSeconds"] >= 2 * stop_grace + 10
    # Jobs are handed back, not drained: the grace must not grow with the longest job.
    assert spec["terminationGracePeriodSeconds"] < settings.job_timeout_s


# Pods: security and resources --------------------------------------------------------------------


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=doc_id)
def test_pods_meet_the_restricted_pod_security_standard(deployment: dict[str, Any]) -> None:
    """The checks of the `restricted` profile that these pods touch (the Namespace enforces it)."""
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False
    assert not any("hostPath" in v for v in pod.get("volumes", []))
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["readOnlyRootFilesystem"] is True
    namespace = one("Namespace", deployment["metadata"]["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_vidpulse_pods_run_as_the_image_s_user() -> None:
    uid = int(re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))  # type: ignore[union-attr]
    for deployment, _ in vidpulse_containers():
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid


def test_vidpulse_pods_keep_the_image_s_entrypoint() -> None:
    # tini as PID 1 reaps an srt relay orphaned by a killed worker; `command` would replace it.
    assert 'ENTRYPOINT ["tini", "--"]' in (ROOT / "Dockerfile").read_text()
    containers = vidpulse_containers()
    assert {c["args"][1] for _, c in containers} == {"serve", "worker"}
    assert all("command" not in c for _, c in containers)


def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=doc_id)
def test_every_container_has_requests_within_limits(deployment: dict[str, Any]) -> None:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        resources = container["resources"]
        for name in ("cpu", "memory"):
            assert _quantity(resources["requests"][name]) <= _quantity(resources["limits"][name]), name


# What the autoscaler counts, on a real Redis -----------------------------------------------------


@pytest.mark.redis
async def test_the_scaled_stream_counts_every_unfinished_job(redis_server: RedisServer, tmp_path: Path) -> None:
    """The trigger's XLEN is waiting + running jobs, through the backend's own queue, where the
    pending count sees only the running and the group's lag only the waiting (or nothing at all)."""
    from redis import asyncio as aioredis

    from vidpulse.server.backends import create_backend
    from vidpulse.server.backends.redis.connection import GROUP
    from vidpulse.server.models import new_session_id
    from vidpulse.server.storage.local import LocalStorage
    from vidpulse.server.streams.hub import Hub

    settings = Settings(data_dir=tmp_path, backend="redis", redis_url=redis_server.url())
    backend = create_backend(settings, LocalStorage(tmp_path), Hub(8))
    await backend.connection.start()
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    stream = scaler_trigger()["metadata"]["stream"]

    async def counts() -> tuple[int, int, int | None]:
        (group,) = await client.xinfo_groups(stream)
        assert group["name"] == GROUP
        return await client.xlen(stream), group["pending"], group["lag"]

    try:
        for _ in range(4):
            await backend.jobs.enqueue(new_session_id())
        older = await backend.jobs.next_job()
        newer = await backend.jobs.next_job()
        assert await counts() == (4, 2, 2)  # 2 running, 2 waiting
        await backend.jobs.job_done(newer)  # jobs end out of order
        xlen, pending, lag = await counts()
        assert (xlen, pending) == (3, 1)  # 1 running, 2 waiting: the scaler asks for both
        # Redis cannot tell the lag across a deleted entry (KEDA's lag trigger would read -1); a
        # Redis that can would make the lag half of worker-autoscaler.yaml's reasoning stale.
        assert lag is None, f"Redis now reports a lag of {lag} here: revisit worker-autoscaler.yaml"
        await backend.jobs.job_done(older)
        assert (await counts())[0] == 2
    finally:
        await client.aclose()
        await backend.connection.close()
