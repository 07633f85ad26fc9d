"""Every ATTUNE__… name in the deployment files is a real setting: a typo would be refused at start."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    ENV_NAME,
    K8S_DIR,
    REPO,
    setting_for,
)

#: Files that must name settings; every other manifest in deploy/k8s is scanned too.
MAIN_SOURCES = [
    COMPOSE_FILE,
    ENV_EXAMPLE,
    DOCKERFILE,
    K8S_DIR / "configmap.yaml",
    K8S_DIR / "secret.example.yaml",
    K8S_DIR / "README.md",
    REPO / "docs" / "deploy.md",
]
SOURCES = MAIN_SOURCES + sorted(set(K8S_DIR.glob("*.yaml")) - set(MAIN_SOURCES))
#: How the docs spell the pattern itself.
PATTERN = "ATTUNE__SECTION__KEY"


def _names() -> list[tuple[str, str]]:
    found = []
    for path in SOURCES:
        for name in sorted(set(ENV_NAME.findall(path.read_text())) - {PATTERN}):
            found.append((str(path.relative_to(REPO)), name))
    return found


NAMES = _names()


def test_the_main_files_name_settings() -> None:
    files = {source for source, _ in NAMES}
    assert files >= {str(path.relative_to(REPO)) for path in MAIN_SOURCES}


@pytest.mark.parametrize(("source", "name"), NAMES, ids=[f"{s}:{n}" for s, n in NAMES])
def test_name_is_a_settings_field(source: str, name: str) -> None:
    assert setting_for(name) is not None, (
        f"{source}: {name} is not a field of attune_shared.settings.Settings"
    )


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("ATTUNE__DATABASE__URL", ("database", "url")),
        ("ATTUNE__NATS__REPLICAS", ("nats", "replicas")),
        ("ATTUNE__ENVIRONMENT", ("environment",)),
        ("ATTUNE__NATS", None),  # a section, not a setting
        ("ATTUNE__NATS__URLL", None),
        ("ATTUNE__TIMESCALE__REQUIRED__X", None),
        ("ATTUNE_API_PORT", None),
    ],
)
def test_setting_lookup(name: str, path: tuple[str, ...] | None) -> None:
    assert setting_for(name) == path
