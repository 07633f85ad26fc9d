"""Attune services as real child processes in tests: start, wait until ready, SIGTERM or SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from attune_shared.embedded import die_with_parent
from attune_shared.logs import READY_EVENT


def console_script(name: str) -> str:
    """Path of a console script installed next to the running interpreter (``attune-sensor`` …)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `uv sync`")
    return str(path)


class ServiceProcess:
    """One service process; its combined output goes to ``log_path``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> ServiceProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_log(self, needle: str, timeout: float = 30.0) -> None:
        """Wait until the output written since :meth:`start` contains ``needle``."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.output()[self._log_offset :]
            if needle in text:
                return
            if not self.running:
                raise RuntimeError(
                    f"{self.name} exited ({self.returncode}) before logging {needle!r}:\n{text[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not log {needle!r} within {timeout} s:\n{text[-4000:]}")
            await asyncio.sleep(0.05)

    async def wait_ready(self, timeout: float = 30.0) -> ServiceProcess:
        await self.wait_for_log(READY_EVENT, timeout)
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit code (SIGKILL if it does not exit in time)."""
        return await self._signal_and_wait(signal.SIGTERM, timeout)

    async def kill(self) -> int:
        """SIGKILL the service and everything it started."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return await self._signal_and_wait(None, 10)

    async def _signal_and_wait(self, sig: signal.Signals | None, timeout: float) -> int:
        if self.process is None:
            return 0
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
                break
            await asyncio.sleep(0.05)
        return self.process.returncode
