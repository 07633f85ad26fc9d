"""deploy/Dockerfile and .dockerignore, checked without building."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.manifests import DOCKERIGNORE, REPO, SECRET_NAME, dockerfile_instructions


def _runs() -> list[str]:
    return [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]


def test_multi_stage_on_a_slim_python_311_plus() -> None:
    instructions = dockerfile_instructions()
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2
    final = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stages[-1].split()[0])
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", final)
    assert match and int(match.group(1)) >= 11, final


def test_installs_only_the_locked_dependencies() -> None:
    syncs = [run for run in _runs() if "uv sync" in run]
    assert syncs
    for run in syncs:
        assert "--locked" in run and "--no-dev" in run, run
        # Editable workspace installs keep migrations/ and packs/ next to the source tree.
        assert "--no-editable" not in run
    for run in _runs():
        assert not re.search(r"\bpip\b.*\binstall\b|uv (pip|add|lock)\b", run), f"unlocked install: {run}"


def test_copies_the_workspace_migrations_and_packs() -> None:
    copied = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "COPY")
    members = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    for needed in ["pyproject.toml", "uv.lock", "migrations/", "packs/", *members]:
        assert needed in copied, f"the image does not copy {needed}"


def test_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users, "no USER: the services would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_no_secret_baked_in() -> None:
    for keyword, args in dockerfile_instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args):
                assert not SECRET_NAME.search(name), (
                    f"{keyword} {name}: secrets come from the runtime environment"
                )


def test_the_command_chooses_the_service() -> None:
    instructions = dict(dockerfile_instructions())
    assert "attune-" not in instructions.get("ENTRYPOINT", ""), "the entrypoint must not pin a service"
    assert "CMD" in instructions


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".env", ".git/", "**/.venv/", "**/node_modules/", ".attune/"):
        assert needed in patterns, f".dockerignore lacks {needed}"
    for needed in ("shared", "services", "cli", "migrations", "packs", "uv.lock", "pyproject.toml"):
        assert not any(pattern.rstrip("/") == needed for pattern in patterns), f"{needed} is ignored"
