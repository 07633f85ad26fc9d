"""This replica's ``worker`` row: registered active at start, heartbeats, inactive at shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from attune_executor import __version__
from attune_shared.errors import AttuneError
from attune_shared.models import Worker
from attune_shared.repos import WorkerRepository
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import WorkerStatus

log = logging.getLogger("attune.executor.worker")

RUNNERS = ("builtin", "shell", "python", "http")
LIVE = (WorkerStatus.ACTIVE, WorkerStatus.BUSY)


class WorkerNameInUseError(AttuneError):
    """Another live replica holds this worker name."""


class WorkerPresence:
    def __init__(self, pool: asyncpg.Pool, settings: ExecutorSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.name = settings.worker_name()
        self.worker: Worker | None = None

    @property
    def id(self) -> int:
        assert self.worker is not None
        return self.worker.id

    async def claim_name(self) -> None:
        """Make sure no live replica holds this name: a crashed holder's heartbeat has stopped, a
        live one's goes on (then :class:`WorkerNameInUseError`). Two replicas under one name would
        share a row, and each would abandon the other's runs as its own."""
        repo = WorkerRepository(self.pool)
        held = await repo.get_by_ref(self.name)
        if (
            held is None
            or held.status not in LIVE
            or (held.host, held.pid) == (socket.gethostname(), os.getpid())
            or held.last_heartbeat < datetime.now(UTC) - timedelta(seconds=self.settings.worker_timeout)
        ):
            return
        # a live holder heartbeats within an interval; two intervals and a second of silence: gone
        wait = 2 * self.settings.heartbeat_interval + 1
        log.warning(
            "worker.name_in_use",
            extra={"worker": self.name, "host": held.host, "pid": held.pid, "waiting": wait},
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.settings.heartbeat_interval, 1.0))
            now = await repo.get_by_ref(self.name)
            if now is None or now.status not in LIVE:
                return
            if now.last_heartbeat != held.last_heartbeat:
                raise WorkerNameInUseError(
                    f"executor name {self.name!r} is in use by a live worker (host {now.host}, pid {now.pid}); "
                    "give each replica its own ATTUNE__EXECUTOR__NAME, or leave it unset"
                )

    async def register(self) -> Worker:
        self.worker = await WorkerRepository(self.pool).register(
            name=self.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=self.settings.concurrency,
            capabilities={"runners": list(RUNNERS), "version": __version__},
        )
        return self.worker

    async def heartbeat(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), self.settings.heartbeat_interval)
                return
            except TimeoutError:
                pass
            try:
                if not await WorkerRepository(self.pool).heartbeat(self.id):
                    # marked inactive while it could not heartbeat; its runs may have been abandoned
                    log.warning("worker.revived", extra={"worker": self.name})
                    await self.register()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("worker.heartbeat_failed", extra={"worker": self.name, "error": str(exc)})

    async def deregister(self) -> None:
        if self.worker is not None:
            await WorkerRepository(self.pool).set_status(self.id, WorkerStatus.INACTIVE)
