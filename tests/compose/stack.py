"""`docker compose` on the production docker-compose.yml plus the tier's override, one project."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attune_shared.processes import free_port
from tests.compose.engine import Engine, compose_cli
from tests.deploy.manifests import COMPOSE_FILE

OVERRIDE = Path(__file__).parent / "compose.test.yml"
PROJECT = "attune-compose-tier"


class Stack:
    """One compose project on ``engine``: its own ports (on 127.0.0.1), secrets and env file."""

    def __init__(self, engine: Engine, workdir: Path) -> None:
        self.engine = engine
        self.api_port = free_port()
        self.nats_port = free_port()
        self.env_file = workdir / "compose.env"
        self.env_file.write_text(
            "".join(
                f"{k}={v}\n"
                for k, v in {
                    "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
                    "ATTUNE__SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
                    "ATTUNE_API_PORT": self.api_port,
                    "ATTUNE_NATS_PORT": self.nats_port,
                    "ATTUNE_NATS_MONITOR_PORT": free_port(),
                }.items()
            )
        )
        self.env_file.chmod(0o600)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        """Run ``docker compose …`` for this project; its stdout (raises with the output on failure)."""
        command = [
            *compose_cli(),
            "--project-name",
            PROJECT,
            "--env-file",
            str(self.env_file),
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(OVERRIDE),
            *args,
        ]
        result = subprocess.run(
            command,
            # compose's own BuildKit client: this engine has no buildx for Bake
            env={**self.engine.env, "COMPOSE_BAKE": "false"},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            cwd=COMPOSE_FILE.parent,
        )
        # compose 2.40's own builder (there is no buildx here) exits 0 when a build fails
        failed = result.returncode != 0 or "failed to solve:" in result.stderr
        if check and failed:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def containers(self, service: str) -> list[dict[str, Any]]:
        """``docker compose ps -a`` of one service, one dict per container."""
        out = self.compose("ps", "-a", "--format", "json", service)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, container: str) -> dict[str, Any]:
        return dict(json.loads(self.engine.docker("inspect", container))[0])

    def logs(self, *services: str) -> list[str]:
        return self.compose("logs", "--no-color", "--no-log-prefix", *services).splitlines()

    def json_logs(self, *services: str) -> list[dict[str, Any]]:
        """The JSON lines of these services' logs (other lines are skipped)."""
        found = []
        for line in self.logs(*services):
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found


class Steps:
    """Named, timed steps: each prints its duration as it ends; :meth:`summary` lists them all."""

    def __init__(self) -> None:
        self.durations: list[tuple[str, float]] = []
        self.started = time.monotonic()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        print(f"[compose tier] {name} …", flush=True)
        begun = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - begun
            self.durations.append((name, took))
            print(f"[compose tier] {name}: {took:.1f} s", flush=True)

    def summary(self) -> str:
        width = max((len(name) for name, _ in self.durations), default=0)
        lines = [f"  {name:<{width}}  {took:7.1f} s" for name, took in self.durations]
        lines.append(f"  {'total':<{width}}  {time.monotonic() - self.started:7.1f} s")
        return "\n".join(["[compose tier] steps:", *lines])
