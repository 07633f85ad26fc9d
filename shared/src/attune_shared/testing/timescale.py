"""A real TimescaleDB for tests on machines without Docker: PGlite + TimescaleDB in WASM under Node.

It serves one client connection at a time and keeps session state across connections, so the
tier uses a single connection for the whole session. It is a conformance target for migrations
and repository SQL, never a runtime.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from attune_shared.constants import PROJECT_ROOT
from attune_shared.embedded import EmbeddedServerError, ServerProcess

SERVER_DIR = PROJECT_ROOT / "tests" / "timescale"


def install_node_packages(directory: Path = SERVER_DIR) -> None:
    """``npm ci`` from the committed lockfile when ``node_modules`` is missing or stale."""
    lock = directory / "package-lock.json"
    marker = directory / "node_modules" / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise EmbeddedServerError("npm not found: the timescale test tier needs Node.js and npm")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(f"npm ci in {directory} failed: {result.stderr.strip()[-2000:]}")


class TimescaleWasmServer(ServerProcess):
    name = "timescale-wasm"

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise EmbeddedServerError("node not found: the timescale test tier needs Node.js")
        return [node, str(SERVER_DIR / "server.mjs"), str(self.port)]

    def start(self, timeout: float = 120.0) -> None:
        install_node_packages()
        super().start(timeout)

    @property
    def url(self) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"
