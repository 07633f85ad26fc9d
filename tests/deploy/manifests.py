"""Loaders for the deployment files, and the rules that tie them to the settings model and bus specs."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from attune_shared.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
K8S_DIR = REPO / "deploy" / "k8s"
SECRET_TEMPLATE = K8S_DIR / "secret.example.yaml"

#: The services that run the Attune image (the rest are infrastructure or tools).
ATTUNE_SERVICES = ("migrate", "api", "sensor", "executor")

#: The one-shot provisioning script, in order: compose `migrate` and the k8s Job run exactly this.
MIGRATE_SCRIPT = (
    "attune migrate",
    "attune bus init",
    "attune pack register packs/core",
    "attune pack register packs/examples",
)

ENV_NAME = re.compile(r"\bATTUNE__[A-Z0-9_]*[A-Z0-9]\b")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY")
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object in deploy/k8s (the kustomization itself and the Secret template included)."""
    documents = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((path, document))
    return documents


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    matches = [
        doc for _, doc in load_k8s_documents() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(matches) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(matches)}"
    return matches[0]


def env_example() -> dict[str, str]:
    """The assignments of .env.example (comments skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example: not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$`` substitution."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        current = env.get(name)
        empty = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if empty else current  # type: ignore[return-value]
        if op in (":?", "?"):
            if empty:
                raise KeyError(f"{name} is required: {arg}")
            return current  # type: ignore[return-value]
        if op in (":+", "+"):
            return "" if empty else arg
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def interpolated_names(text: str) -> set[str]:
    return {m.group("name") or m.group("bare") for m in _INTERPOLATION.finditer(text) if m.group(0) != "$$"}


def required_names(text: str) -> set[str]:
    """Variables referenced as ``${VAR:?…}`` or ``${VAR?…}``: no default, must be provided."""
    return {m.group("name") for m in _INTERPOLATION.finditer(text) if (m.group("op") or "").endswith("?")}


def setting_for(env_name: str) -> tuple[str, ...] | None:
    """``ATTUNE__SECTION__KEY`` -> ``("section", "key")`` if that leaf field exists on Settings."""
    if not env_name.startswith(ENV_PREFIX):
        return None
    path = tuple(env_name.removeprefix(ENV_PREFIX).lower().split("__"))
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth < len(path) - 1:
            if not is_section:
                return None
            model = annotation  # type: ignore[assignment]
        elif is_section:
            return None
    return path


def script_lines(command: Any) -> tuple[str, ...]:
    """The commands of a ``["sh", "-ec", "…"]`` command, one per line, whitespace normalised."""
    assert isinstance(command, list) and command[:2] == ["sh", "-ec"] and len(command) == 3, command
    return tuple(" ".join(shlex.split(line)) for line in command[2].splitlines() if line.strip())


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
    assert not pending, "Dockerfile ends with a line continuation"
    return instructions
