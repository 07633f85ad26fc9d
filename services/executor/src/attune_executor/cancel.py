"""Cancelling running actions: a ``canceling`` execution this replica runs is stopped (SIGTERM to its
process group, SIGKILL after ``kill_grace``) and ends ``cancelled``.

Every replica listens to ``<p>.execution.cancel`` with a plain (non-durable) subscription and
stops the runs that are its own; as a fallback for a missed message it re-reads the status of its
running executions every ``cancel_check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pydantic
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from attune_executor.running import RunManager
from attune_shared.bus import ExecutionStatusChanged, Subjects
from attune_shared.repos import ExecutionRepository
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.cancel")


class CancelWatcher:
    def __init__(
        self, nc: NatsClient, subjects: Subjects, pool: asyncpg.Pool, runs: RunManager, interval: float
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.pool = pool
        self.runs = runs
        self.interval = interval
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subjects.execution_cancel, cb=self._on_cancel)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_cancel(self, msg: Msg) -> None:
        try:
            change = ExecutionStatusChanged.model_validate_json(msg.data)
        except pydantic.ValidationError:
            return
        if change.new_status is ExecutionStatus.CANCELING:
            self.runs.cancel(change.execution_id)

    async def run(self, stopping: asyncio.Event) -> None:
        """The periodic fallback check."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), self.interval)
                return
            except TimeoutError:
                pass
            runs = list(self.runs.runs.values())
            if not runs:
                continue
            try:
                rows = await ExecutionRepository(self.pool).get_keys(
                    [(r.execution.id, r.execution.created) for r in runs]
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cancel.check_failed", extra={"error": str(exc)})
                continue
            for x in rows.values():
                # terminal: taken from this replica (abandoned while it looked dead); stop the duplicate.
                # A run gone meanwhile has ended: nothing to stop, nor to remember for later.
                if x.id in self.runs.runs and (x.status is ExecutionStatus.CANCELING or x.status.is_terminal):
                    self.runs.cancel(x.id)
