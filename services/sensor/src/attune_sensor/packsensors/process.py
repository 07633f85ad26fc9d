"""One pack sensor: its lease, its child process, its restarts.

While this replica holds the sensor's lease (``sensor.<ref>`` in the leases bucket) the sensor
runs here, in its own process group, under the pack's virtual environment (else this service's
interpreter), with a scrubbed environment and the job on stdin. A process that exits is started
again after a pause that doubles from 1 s up to ``sensor.sensor_restart_max_delay`` (back to 1 s
once it has run for a minute); each exit is logged and reported in ``sensor_process`` with the
last lines it wrote to stderr. Stopping (SIGTERM of the service, the sensor disabled or removed,
the lease lost) sends SIGTERM, and SIGKILL to the whole group after ``sensor.sensor_stop_grace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_sensor.timers.lease import Lease
from attune_shared.bus import Bus
from attune_shared.datastore import Datastore
from attune_shared.models import Pack, Sensor
from attune_shared.outage import is_unavailable
from attune_shared.processes import die_with_parent
from attune_shared.repos import SensorProcessRepository
from attune_shared.settings import Settings
from attune_shared.st2compat import SENSOR_WRAPPER
from attune_shared.st2compat.channel import ParentChannel
from attune_shared.st2compat.services import ChildServices

log = logging.getLogger("attune.sensor.pack")

#: First pause before a crashed sensor is started again, in seconds; it doubles on each crash.
FIRST_RESTART_DELAY = 1.0
#: A sensor that ran this long before it exited starts again after the first pause.
STABLE_AFTER = 60.0
#: Lines of stderr kept to report why a sensor stopped.
ERROR_LINES = 20
#: PATH when the service's environment has none.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class SensorContext:
    """What every pack sensor process of this replica shares."""

    pool: asyncpg.Pool
    bus: Bus
    nc: NatsClient
    leases_bucket: str
    datastore: Datastore
    settings: Settings


class SensorProcess:
    """Runs one sensor while this replica holds its lease, until :meth:`stop`."""

    def __init__(
        self, ctx: SensorContext, sensor: Sensor, pack: Pack, triggers: dict[str, dict[str, Any]]
    ) -> None:
        self.ctx = ctx
        self.sensor = sensor
        self.pack = pack
        self.triggers = triggers
        self.restarts = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        ttl = ctx.settings.sensor.timer_lease_ttl
        self.lease = Lease(ctx.nc, ctx.leases_bucket, ttl, key=f"sensor.{sensor.ref}")
        self.lease.on_change = lambda _held: self._wake.set()
        self._channel: ParentChannel | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ref(self) -> str:
        return self.sensor.ref

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"sensor {self.ref}")

    async def stop(self) -> None:
        """Stop the process (cleanup runs), release the lease; returns once both are done."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def set_triggers(self, triggers: dict[str, dict[str, Any]]) -> None:
        """Tell the running sensor which triggers were added and removed."""
        old, self.triggers = self.triggers, triggers
        if self._channel is None:
            return
        for trigger_id in old.keys() - triggers.keys():
            await self._channel.notify("remove", **old[trigger_id])
        for trigger_id in triggers.keys() - old.keys():
            await self._channel.notify("add", **triggers[trigger_id])

    async def _supervise(self) -> None:
        lease = asyncio.create_task(self.lease.run(self._stopping), name=f"lease {self.ref}")
        delay = FIRST_RESTART_DELAY
        try:
            while not self._stopping.is_set():
                if not self.lease.held():
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                started = time.monotonic()
                code, why = await self._run_once()
                if self._stopping.is_set() or not self.lease.held():
                    await self._report(status="stopped", pid=None)
                    continue
                if time.monotonic() - started >= STABLE_AFTER:
                    delay = FIRST_RESTART_DELAY
                self.restarts += 1
                log.warning(
                    "sensor.exited",
                    extra={"sensor": self.ref, "exit_code": code, "restart_in": delay, "error": why[-500:]},
                )
                await self._report(
                    status="backoff",
                    pid=None,
                    restarts=self.restarts,
                    last_error=why[-4000:] or f"exited with code {code}",
                    last_error_at=datetime.now(UTC),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self.ctx.settings.sensor.sensor_restart_max_delay)
        finally:
            await asyncio.gather(lease, return_exceptions=True)

    async def _run_once(self) -> tuple[int | None, str]:
        """Run the process until it exits or must stop; its exit code and last stderr lines."""
        path = Path(self.pack.path or "") / "sensors" / self.sensor.entry_point
        python = self.ctx.settings.packs.python_of(self.pack.ref) or Path(sys.executable)
        parent, child = socket.socketpair()
        services = ChildServices(self.ctx.datastore, self.ctx.bus, f"sensor:{self.ref}")
        limit = 2 * self.ctx.settings.sensor.max_payload_bytes + 65536
        channel = ParentChannel(parent, services, limit=limit, name=f"sensor {self.ref}")
        job = {
            "pack": self.pack.ref,
            "file": str(path),
            "class_name": self.sensor.class_name,
            "config": self.pack.config,
            "poll_interval": self.sensor.poll_interval,
            "triggers": list(self.triggers.values()),
            "lib_paths": [],
        }
        errors: deque[str] = deque(maxlen=ERROR_LINES)
        try:
            proc = await asyncio.create_subprocess_exec(
                str(python),
                "-E",
                "-s",
                str(SENSOR_WRAPPER),
                "--channel-fd",
                str(child.fileno()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env(),
                cwd=str(path.parent),
                pass_fds=(child.fileno(),),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            parent.close()
            return None, f"cannot start {python}: {exc.strerror or exc}"
        finally:
            child.close()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write((json.dumps(job, default=str) + "\n").encode())
        proc.stdin.close()
        self._channel = channel
        tasks = [
            asyncio.create_task(channel.serve()),
            asyncio.create_task(self._log(proc.stdout, "stdout", None)),
            asyncio.create_task(self._log(proc.stderr, "stderr", errors)),
        ]
        await self._report(
            status="running",
            pid=proc.pid,
            host=socket.gethostname(),
            started_at=datetime.now(UTC),
            restarts=self.restarts,
        )
        log.info("sensor.started", extra={"sensor": self.ref, "pid": proc.pid})
        waiter = asyncio.create_task(proc.wait())
        try:
            while not waiter.done():
                self._wake.clear()
                wake = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waiter, wake}, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                if self._stopping.is_set() or not self.lease.held():
                    await self._terminate(proc.pid, waiter)
                    break
            code = await waiter
        finally:
            _kill_group(proc.pid)  # whatever the sensor left running in its group
            self._channel = None
            await asyncio.wait(tasks, timeout=2.0)
            for task in tasks:
                task.cancel()
            parent.close()
        return code, "\n".join(errors)

    async def _terminate(self, pid: int, waiter: asyncio.Task[int]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        done, _ = await asyncio.wait({waiter}, timeout=self.ctx.settings.sensor.sensor_stop_grace)
        if not done:
            log.warning("sensor.killed", extra={"sensor": self.ref, "pid": pid})
            _kill_group(pid)

    async def _log(self, stream: asyncio.StreamReader, name: str, keep: deque[str] | None) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if keep is not None:
                keep.append(text)
            log.info("sensor.output", extra={"sensor": self.ref, "stream": name, "line": text[:2000]})

    def _env(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in self.ctx.settings.executor.action_env if name in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
        env.update(ST2_SENSOR_REF=self.ref, ST2_ACTION_PACK_NAME=self.pack.ref)
        return env

    async def _report(self, **values: Any) -> None:
        try:
            await SensorProcessRepository(self.ctx.pool).report(self.ref, **values)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("sensor.report_failed", extra={"sensor": self.ref, "error": str(exc)})


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
