"""`attune up` as a user runs it: a subprocess that starts everything, prints a copy-paste event
that produces a completed execution, stops cleanly on Ctrl-C, and reuses its data next time."""

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest

from attune_shared.processes import free_port, port_open

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    # a laptop: no server configured, so attune up starts its own
    return {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE")}


class Up:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, api_port: int) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "attune_cli",
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--api-port",
                    str(api_port),
                    "--executors",
                    "2",
                ],
                env=_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[self.offset :]

    async def wait_for(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.output():
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"attune up exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"attune up did not print {needle!r}:\n{self.output()}")
            await asyncio.sleep(0.2)
        return self.output()

    async def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        for _ in range(600):
            if self.process.poll() is not None:
                return self.process.returncode
            await asyncio.sleep(0.1)
        self.process.kill()
        raise AssertionError("attune up did not stop within 60 s of Ctrl-C")


def _run_line(line: str) -> subprocess.CompletedProcess[str]:
    """Run a printed `ENV=… uv run attune …` line the way a user pastes it (without uv: we are in the venv)."""
    words = shlex.split(line)
    env = _env()
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[:3] == ["uv", "run", "attune"], words
    return subprocess.run(
        [sys.executable, "-m", "attune_cli", *words[3:]], env=env, capture_output=True, text=True, check=False
    )


def _processes_mentioning(needle: str) -> list[str]:
    """Command lines of live processes whose command line or environment contains ``needle``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle.encode() in cmdline or needle.encode() in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


async def _executions(list_line: str) -> list[dict]:
    result = _run_line(list_line + " --json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_attune_up_runs_the_copy_paste_event_and_restarts_on_its_data(tmp_path: Path) -> None:
    data = tmp_path / ".attune"
    data.mkdir()
    # fixed free ports for this test, so a developer's own `attune up` is never in the way
    ports = {"nats_port": free_port(), "nats_monitor_port": free_port(), "postgres_port": free_port()}
    (data / "state.json").write_text(json.dumps(ports))
    api_port = free_port()
    up = Up(data, tmp_path / "up.log")
    up.start(api_port)
    try:
        text = await up.wait_for("Then look at it:")
        publish = next(line.strip() for line in text.splitlines() if "attune event publish" in line)
        listing = next(line.strip() for line in text.splitlines() if "attune execution list" in line)
        assert re.search(r"API key\s+atn_", text)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            assert (await http.get("/docs")).status_code == 200  # public on a laptop
        assert len(_processes_mentioning(f"127.0.0.1:{ports['postgres_port']}")) >= 3  # api, sensor, executor

        published = _run_line(publish)
        assert published.returncode == 0, published.stderr
        deadline = time.monotonic() + 60
        while True:
            executions = await _executions(listing)
            if executions and all(x["status"] == "completed" for x in executions):
                break
            assert time.monotonic() < deadline, executions
            await asyncio.sleep(0.5)
        first = {x["id"] for x in executions}
        assert {x["action_ref"] for x in executions} >= {"examples.notify"}

        # the README's `nats pub`: a plain core-NATS publish, no headers, works the same
        nats_url = re.search(r"ATTUNE__NATS__URL=(\S+)", publish).group(1)  # type: ignore[union-attr]
        nc = await nats.connect(nats_url)
        await nc.publish(
            "attune.trigger.examples.alert", b'{"host":"db-1","severity":"critical","message":"replica lag"}'
        )
        await nc.flush()
        await nc.close()
        deadline = time.monotonic() + 60
        while not any(
            x["id"] not in first and x["status"] == "completed" for x in await _executions(listing)
        ):
            assert time.monotonic() < deadline, "the nats pub event produced no completed execution"
            await asyncio.sleep(0.5)
    finally:
        code = await up.interrupt()
    assert code == 0, up.output()
    assert "stopped." in up.output()
    assert "Traceback" not in up.output()
    # nothing it started is left behind: no server or api port open, no process configured for them
    assert [p for p in (*ports.values(), api_port) if port_open(p)] == []
    assert _processes_mentioning(f"127.0.0.1:{ports['postgres_port']}") == []

    # a second run reuses the database: the executions are still there
    up.start(free_port())
    try:
        text = await up.wait_for("Then look at it:")
        assert "0 applied" in text
        listing = next(line.strip() for line in text.splitlines() if "attune execution list" in line)
        assert first <= {x["id"] for x in await _executions(listing)}
    finally:
        assert await up.interrupt() == 0


def test_scripts_up_starts_attune_up() -> None:
    """The README's first command is a thin wrapper: it installs from the lockfile and execs `attune up`."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(root / "scripts" / "up"), "--help"], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Run the whole system locally" in result.stdout
