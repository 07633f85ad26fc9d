"""docker-compose.yml checked statically: CI machines may have no Docker engine."""

from __future__ import annotations

import os
import re

import pytest

from attune_shared.settings import ExecutorSettings, Settings, load_settings
from tests.deploy.manifests import (
    ATTUNE_SERVICES,
    COMPOSE_FILE,
    DOCKERFILE,
    MIGRATE_SCRIPT,
    REPO,
    SECRET_NAME,
    env_example,
    interpolate,
    interpolated_names,
    load_compose,
    required_names,
    script_lines,
    setting_for,
)

HEALTHY = {"condition": "service_healthy"}
COMPLETED = {"condition": "service_completed_successfully"}
CLUSTER = ("nats-1", "nats-2", "nats-3")
#: the nats-cluster profile's servers, waited for only when the profile is on
CLUSTER_HEALTHY = {name: {"condition": "service_healthy", "required": False} for name in CLUSTER}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_expected_services(services: dict) -> None:
    core = {"timescaledb", "nats", *ATTUNE_SERVICES}
    assert core <= services.keys()
    extras = services.keys() - core
    for name in extras:
        assert services[name].get("profiles"), f"{name} would start with `docker compose up`"


def test_timescaledb(compose: dict, services: dict) -> None:
    db = services["timescaledb"]
    image, _, tag = db["image"].partition(":")
    assert image == "timescale/timescaledb"
    assert tag.endswith("-pg17"), "PostgreSQL 17 image"
    assert db["environment"]["TIMESCALEDB_TELEMETRY"] == "off"
    volume, _, target = db["volumes"][0].partition(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_nats_keeps_monitoring_with_jetstream(compose: dict, services: dict) -> None:
    nats = services["nats"]
    image, _, tag = nats["image"].partition(":")
    # The healthcheck needs wget: the alpine variant has it, the default scratch image has no shell at all.
    assert image == "nats" and tag.endswith("-alpine")
    args = nats["command"]
    assert "-js" in args
    # Flags replace the image's default config, and with it the monitoring port.
    assert args[args.index("-m") + 1] == "8222"
    store = args[args.index("-sd") + 1]
    volume, _, target = nats["volumes"][0].partition(":")
    assert target == store and volume in compose["volumes"]
    probe = " ".join(nats["healthcheck"]["test"])
    assert re.search(r"http://127\.0\.0\.1:8222/healthz\?js-enabled-only=true", probe)
    for port in nats.get("ports", []):
        assert port.startswith("127.0.0.1:"), "NATS has no auth: publish it on loopback only"


def test_migrate_runs_once_after_infrastructure(services: dict) -> None:
    migrate = services["migrate"]
    assert script_lines(migrate["command"]) == MIGRATE_SCRIPT
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"timescaledb": HEALTHY, "nats": HEALTHY, **CLUSTER_HEALTHY}


@pytest.mark.parametrize("name", ["api", "sensor", "executor"])
def test_services_wait_for_migrate(services: dict, name: str) -> None:
    assert services[name]["depends_on"] == {
        "timescaledb": HEALTHY,
        "nats": HEALTHY,
        **CLUSTER_HEALTHY,
        "migrate": COMPLETED,
    }


def test_nats_cluster_profile(compose: dict, services: dict) -> None:
    routes = ",".join(f"nats://{name}:6222" for name in CLUSTER)
    names = set()
    for name in CLUSTER:
        node = services[name]
        assert node["profiles"] == ["nats-cluster"]
        assert node["image"] == services["nats"]["image"]
        assert node["healthcheck"]["test"] == services["nats"]["healthcheck"]["test"]
        args = node["command"]
        assert "-js" in args and args[args.index("-m") + 1] == "8222"
        assert args[args.index("--cluster_name") + 1] == "attune"
        assert args[args.index("--cluster") + 1] == "nats://0.0.0.0:6222"
        assert args[args.index("--routes") + 1] == routes
        names.add(args[args.index("--name") + 1])
        volume, _, target = node["volumes"][0].partition(":")
        assert target == args[args.index("-sd") + 1] and volume in compose["volumes"]
        assert "ports" not in node, "the cluster is reached inside the compose network only"
    assert len(names) == len(CLUSTER), "JetStream needs a distinct server name per member"


@pytest.mark.parametrize(
    ("name", "command"), [("api", "attune-api"), ("sensor", "attune-sensor"), ("executor", "attune-executor")]
)
def test_service_command(services: dict, name: str, command: str) -> None:
    assert services[name]["command"] == [command]


def test_one_image_built_from_deploy_dockerfile(services: dict) -> None:
    images = {services[name]["image"] for name in ATTUNE_SERVICES}
    assert len(images) == 1
    for name in ATTUNE_SERVICES:
        build = services[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_api_port_and_readiness_healthcheck(services: dict) -> None:
    api = services["api"]
    assert [port.rsplit(":", 1)[1] for port in api["ports"]] == ["8080"]
    assert api["environment"]["ATTUNE__API__HOST"] == "0.0.0.0"
    assert api["environment"]["ATTUNE__API__PORT"] == "8080"
    probe = " ".join(api["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/health/ready" in probe


@pytest.mark.parametrize("name", ["timescaledb", "nats", "api", "sensor", "executor"])
def test_healthcheck_present(services: dict, name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert {"interval", "timeout", "retries"} <= check.keys()


@pytest.mark.parametrize("name", ["sensor", "executor"])
def test_workers_ready_on_their_metrics_port(services: dict, name: str) -> None:
    port = services[name]["environment"][f"ATTUNE__{name.upper()}__METRICS_PORT"]
    assert f"http://127.0.0.1:{port}/health/ready" in " ".join(services[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["sensor", "executor"])
def test_scalable_services_have_no_fixed_identity(services: dict, name: str) -> None:
    service = services[name]
    for key in ("container_name", "hostname", "ports"):
        assert key not in service, f"{name}.{key} breaks `docker compose up --scale {name}=3`"
    # Each executor replica registers its own worker (<hostname>-<pid>): no fixed name.
    assert "ATTUNE__EXECUTOR__NAME" not in service["environment"]


def test_no_service_has_a_container_name(services: dict) -> None:
    assert [name for name, service in services.items() if "container_name" in service] == []


@pytest.mark.parametrize("name", ATTUNE_SERVICES)
def test_production_environment(services: dict, name: str) -> None:
    env = services[name]["environment"]
    assert env["ATTUNE__TIMESCALE__REQUIRED"] == "true"
    assert env["ATTUNE__ENVIRONMENT"] == "production"
    assert env["ATTUNE__LOG__FORMAT"] == "json"
    assert interpolate(env["ATTUNE__NATS__URL"], {}) == "nats://nats:4222"
    assert interpolate(env["ATTUNE__NATS__REPLICAS"], {}) == "1"
    assert "@timescaledb:5432/" in env["ATTUNE__DATABASE__URL"]
    assert required_names(env["ATTUNE__SECURITY__SECRET_KEY"]) == {"ATTUNE__SECURITY__SECRET_KEY"}


def test_secrets_come_from_the_environment_only(services: dict) -> None:
    for name, service in services.items():
        env = service.get("environment", {})
        for key, value in env.items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*|:-)\}", str(value)), (
                    f"{name}.{key} must be ${{VAR:?message}} (required) or ${{VAR:-}} (optional): no default"
                )
            for userinfo in re.findall(r"://[^/@\s]*:([^@\s]*)@", str(value)):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", userinfo), (
                    f"{name}.{key}: the password in a URL must come from a required variable"
                )


def test_every_variable_is_documented_in_env_example() -> None:
    documented = env_example().keys()
    used = interpolated_names(COMPOSE_FILE.read_text())
    # $${POSTGRES_USER} in the healthcheck is the container's own variable, escaped from compose.
    assert used - documented == set()
    assert documented - used == set(), ".env.example documents variables the compose file never reads"


#: settings whose compose value is not the service's own default: the compose network's server name
COMPOSE_NETWORK_SETTINGS = {"ATTUNE__NATS__URL"}


def test_the_defaults_shown_are_the_services_own() -> None:
    """A ``${VAR:-default}`` of the compose file shows the value of .env.example, and for a setting
    that is the service's own default: a copy of it cannot drift when the default changes."""
    documented = env_example()
    defaults = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}", COMPOSE_FILE.read_text())
    concurrency = ExecutorSettings.model_fields["concurrency"].default
    assert ("ATTUNE__EXECUTOR__CONCURRENCY", str(concurrency)) in defaults
    for name, default in defaults:
        assert documented[name] == default, f"{name}: .env.example {documented[name]!r}, compose {default!r}"
        path = setting_for(name)
        if path is None or name in COMPOSE_NETWORK_SETTINGS or default == "":
            continue
        section, key = path
        own = Settings.model_fields[section].annotation.model_fields[key].default  # type: ignore[union-attr]
        assert str(own) == default, (
            f"{name}: compose and .env.example show {default!r}, the default is {own!r}"
        )


def test_missing_required_values_stop_compose() -> None:
    required = required_names(COMPOSE_FILE.read_text())
    assert required == {"POSTGRES_PASSWORD", "ATTUNE__SECURITY__SECRET_KEY"}
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(load_compose()["x-attune-env"]["ATTUNE__DATABASE__URL"], {"POSTGRES_PASSWORD": ""})


@pytest.mark.parametrize("name", ATTUNE_SERVICES)
def test_environment_builds_valid_settings(
    services: dict, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = env_example() | {
        "POSTGRES_PASSWORD": "pw-for-test",
        "ATTUNE__SECURITY__SECRET_KEY": "key-for-test",
    }
    for key in list(os.environ):
        if key.startswith("ATTUNE__") or key == "ATTUNE_CONFIG":
            monkeypatch.delenv(key)
    for key, value in services[name]["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), values))
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.timescale.required is True
    assert settings.database.url == "postgresql://attune:pw-for-test@timescaledb:5432/attune"
    assert settings.security.secret_key.get_secret_value() == "key-for-test"
    assert settings.security.previous_secret_key is None  # empty in .env.example
    assert settings.nats.replicas == 1


@pytest.mark.parametrize("name", ATTUNE_SERVICES)
def test_nats_cluster_settings_reach_the_services(
    services: dict, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What .env.example says to set for the nats-cluster profile gives valid R3 settings."""
    urls = ",".join(f"nats://{node}:4222" for node in CLUSTER)
    values = env_example() | {
        "POSTGRES_PASSWORD": "pw",
        "ATTUNE__SECURITY__SECRET_KEY": "key",
        "ATTUNE__NATS__URL": urls,
        "ATTUNE__NATS__REPLICAS": "3",
    }
    for key in list(os.environ):
        if key.startswith("ATTUNE__") or key == "ATTUNE_CONFIG":
            monkeypatch.delenv(key)
    for key, value in services[name]["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), values))
    settings = load_settings()
    assert (settings.nats.url, settings.nats.replicas) == (urls, 3)
