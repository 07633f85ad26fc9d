"""Child processes of this project's own — embedded servers and service processes — started one way:
in a session of their own (so a signal reaches everything they start), with their output in a log
file, and killed with the process that started them (Linux), so a killed test run or `attune up`
leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from attune_shared.logs import READY_EVENT

LOCALHOST = "127.0.0.1"


#: Ports :func:`free_port` has handed out in this process.
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and that this process was not
    given before: the kernel hands a port it just freed out again (47 repeats in 1,000 calls), so
    the nine ports of a three-node NATS cluster, taken before any node listens, now and then
    held the same port twice."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOCALHOST, 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_open(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _load_libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when the process that started it dies (Linux). Only a
    C call: safe after fork."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def spawn(args: list[str], log_path: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``args`` in a new session, stdout and stderr appended to ``log_path``, no stdin."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
            **popen,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process`` and everything it started (its session)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def console_script(name: str) -> str:
    """Path of a console script installed next to the running interpreter (``attune-sensor`` …)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `uv sync`")
    return str(path)


class ServiceProcess:
    """One service process (``attune-api`` …): start, wait until ready, SIGTERM or SIGKILL. Its
    combined output goes to ``log_path``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> ServiceProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = spawn(self.args, self.log_path, env=self.env)
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
        if self.process is not None:
            kill_group(self.process)
        return await self._signal_and_wait(None, 10)

    async def _signal_and_wait(self, sig: signal.Signals | None, timeout: float) -> int:
        if self.process is None:
            return 0
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                kill_group(self.process)
                self.process.wait(10)
                break
            await asyncio.sleep(0.05)
        return self.process.returncode
