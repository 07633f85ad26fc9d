"""deploy/k8s: parses, hangs together, and names the streams and consumers the bus really has."""

from __future__ import annotations

import os

import pytest
import yaml

from attune_shared.bus.specs import EXECUTOR_EXECUTIONS, BusSpec
from attune_shared.errors import ConfigError
from attune_shared.settings import PLACEHOLDER_SECRET, load_settings
from tests.deploy.manifests import (
    K8S_DIR,
    MIGRATE_SCRIPT,
    SECRET_TEMPLATE,
    k8s_object,
    load_compose,
    load_k8s_documents,
    script_lines,
)

DEPLOYMENTS = {"api": "attune-api", "sensor": "attune-sensor", "executor": "attune-executor"}
BUS = BusSpec("attune")


def _kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


def _pod(kind: str, name: str) -> dict:
    return k8s_object(kind, name)["spec"]["template"]["spec"]


def _container(kind: str, name: str) -> dict:
    containers = _pod(kind, name)["containers"]
    assert len(containers) == 1
    return containers[0]


def test_every_document_is_a_kubernetes_object() -> None:
    documents = load_k8s_documents()
    assert len(documents) >= 9
    for path, document in documents:
        assert {"apiVersion", "kind"} <= document.keys(), path.name
        if document["kind"] != "Kustomization":
            assert document["metadata"]["name"], path.name


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    resources = _kustomization()["resources"]
    on_disk = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml", SECRET_TEMPLATE.name}
    assert sorted(resources) == sorted(on_disk)
    assert SECRET_TEMPLATE.name not in resources, (
        "real secrets are created out of band, never applied from git"
    )


@pytest.mark.parametrize(("component", "name"), DEPLOYMENTS.items())
def test_deployment_runs_its_service_from_the_one_image(component: str, name: str) -> None:
    deployment = k8s_object("Deployment", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == component
    container = _container("Deployment", name)
    assert container["image"] == "attune"
    # args, not command: the image's tini entrypoint stays PID 1
    assert "command" not in container
    assert container["args"] == [f"attune-{component}"]


@pytest.mark.parametrize(
    ("kind", "name"), [("Job", "attune-migrate")] + [("Deployment", n) for n in DEPLOYMENTS.values()]
)
def test_pods_share_config_and_secret_and_run_as_non_root(kind: str, name: str) -> None:
    pod = _pod(kind, name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = _container(kind, name)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    sources = [next(iter(source.values()))["name"] for source in container["envFrom"]]
    assert sources == ["attune-config", "attune-secrets"]
    assert k8s_object("ConfigMap", "attune-config")
    assert k8s_object("Secret", "attune-secrets")


def test_api_probes_and_service() -> None:
    container = _container("Deployment", "attune-api")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    service = k8s_object("Service", "attune-api")
    pod_labels = k8s_object("Deployment", "attune-api")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


@pytest.mark.parametrize("name", ["attune-sensor", "attune-executor"])
def test_worker_probes_on_the_metrics_port(name: str) -> None:
    container = _container("Deployment", name)
    assert {port["name"] for port in container["ports"]} == {"metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "metrics"}
    config = k8s_object("ConfigMap", "attune-config")["data"]
    component = name.removeprefix("attune-").upper()
    assert config[f"ATTUNE__{component}__METRICS_PORT"] == str(container["ports"][0]["containerPort"])
    assert config[f"ATTUNE__{component}__METRICS_HOST"] == "0.0.0.0", "probes come from the kubelet"


def test_migrate_job_runs_the_compose_migrate_script() -> None:
    container = _container("Job", "attune-migrate")
    assert script_lines(container["args"]) == MIGRATE_SCRIPT
    assert script_lines(load_compose()["services"]["migrate"]["command"]) == MIGRATE_SCRIPT
    assert _pod("Job", "attune-migrate")["restartPolicy"] in ("OnFailure", "Never")


def test_scaled_object_targets_the_executor_work_consumers() -> None:
    scaled = k8s_object("ScaledObject", "attune-executor")
    spec = scaled["spec"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert spec["scaleTargetRef"]["name"] == "attune-executor"
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    work_consumers = {c.durable for c in BUS.consumers() if c.stream == BUS.work_stream}
    consumers = []
    for trigger in spec["triggers"]:
        assert trigger["type"] == "nats-jetstream"
        metadata = trigger["metadata"]
        assert metadata["stream"] == BUS.work_stream == "ATTUNE_WORK"
        assert metadata["consumer"] in work_consumers
        assert int(metadata["lagThreshold"]) > 0
        assert metadata["natsServerMonitoringEndpoint"].endswith(":8222")
        consumers.append(metadata["consumer"])
    assert consumers[0] == EXECUTOR_EXECUTIONS == "executor-executions"
    assert len(set(consumers)) == len(consumers)
    # a replica's work in flight: its run slots and as much waiting, as executions or as events
    # (a replica takes events as its slots free; deploy/k8s/README.md)
    slots = int(k8s_object("ConfigMap", "attune-config")["data"]["ATTUNE__EXECUTOR__CONCURRENCY"])
    assert [int(t["metadata"]["lagThreshold"]) for t in spec["triggers"]] == [2 * slots, 2 * slots]


def test_autoscaled_executor_sets_no_replica_count() -> None:
    assert "replicas" not in k8s_object("Deployment", "attune-executor")["spec"]


def test_no_fixed_worker_name() -> None:
    for _, document in load_k8s_documents():
        assert "ATTUNE__EXECUTOR__NAME" not in yaml.safe_dump(document)


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key in list(os.environ):
        if key.startswith("ATTUNE__") or key == "ATTUNE_CONFIG":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return load_settings()


def test_secret_template_holds_placeholders_only(monkeypatch: pytest.MonkeyPatch) -> None:
    values = k8s_object("Secret", "attune-secrets")["stringData"]
    assert set(values) == {"ATTUNE__SECURITY__SECRET_KEY", "ATTUNE__DATABASE__URL"}
    assert values["ATTUNE__SECURITY__SECRET_KEY"] == PLACEHOLDER_SECRET
    assert ":REPLACE_ME@" in values["ATTUNE__DATABASE__URL"]
    config = k8s_object("ConfigMap", "attune-config")["data"]
    # Applied unedited, the template stops every pod instead of running with a known key.
    with pytest.raises(ConfigError, match="placeholder"):
        _settings_from(config | values, monkeypatch)


def test_config_and_secret_build_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    config = k8s_object("ConfigMap", "attune-config")["data"]
    assert all(isinstance(value, str) for value in config.values()), "ConfigMap values must be strings"
    secret = k8s_object("Secret", "attune-secrets")["stringData"] | {"ATTUNE__SECURITY__SECRET_KEY": "k" * 48}
    settings = _settings_from(config | secret, monkeypatch)
    assert settings.environment == "production"
    assert settings.timescale.required is True
    assert settings.nats.replicas == 3
    assert settings.api.host == "0.0.0.0"
