"""This replica's ``worker`` row: registered active at start, heartbeats, inactive at shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import asyncpg

from attune_executor import __version__
from attune_shared.models import Worker
from attune_shared.repos import WorkerRepository
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import WorkerStatus

log = logging.getLogger("attune.executor.worker")

RUNNERS = ("builtin", "shell", "python", "http")


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
