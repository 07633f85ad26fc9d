"""Status changes submitted one by one, written in batches.

Runs end at their own moments; :class:`TransitionBatcher` gathers the changes submitted while the
previous batch was being written and writes them with one statement (as
:func:`attune_shared.executions.transition_many`); the submitters resume once their row is written,
and the announcements follow. Under low load a batch is a single change, so
nothing waits for a timer.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from attune_shared import executions
from attune_shared.bus import Bus, gather_bounded
from attune_shared.errors import RetryableError
from attune_shared.executions import Transition
from attune_shared.repos import ExecutionRepository, StatusChange
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.batcher")


class TransitionBatcher:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, *, max_batch: int = 256) -> None:
        self.pool = pool
        self.bus = bus
        self.max_batch = max_batch
        self._pending: list[tuple[Transition, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, transition: Transition) -> bool:
        """Apply ``transition`` (compare-and-set + announcement); True if it won."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((transition, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        await asyncio.sleep(0)  # let the changes submitted in this loop iteration join
        while self._pending:
            batch: list[tuple[Transition, asyncio.Future[bool]]] = []
            rest: list[tuple[Transition, asyncio.Future[bool]]] = []
            seen: set[int] = set()
            for item in self._pending:
                if len(batch) < self.max_batch and item[0].execution.id not in seen:
                    seen.add(item[0].execution.id)
                    batch.append(item)
                else:
                    rest.append(item)
            self._pending = rest
            try:
                previous = await ExecutionRepository(self.pool).update_status_many(
                    [
                        StatusChange(t.execution.id, t.execution.created, t.expected, t.new, t.changes)
                        for t, _ in batch
                    ]
                )
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            # the callers may go on once the rows are written; the announcements follow
            for (_, future), old in zip(batch, previous, strict=True):
                if not future.done():
                    future.set_result(old is not None)
            await gather_bounded(
                self._announce(t, old) for (t, _), old in zip(batch, previous, strict=True) if old is not None
            )

    async def _announce(self, t: Transition, old: ExecutionStatus) -> None:
        try:
            await executions.announce(self.bus, t.execution, old, t.new)
        except RetryableError as exc:
            log.warning("execution.announce_failed", extra={"execution": t.execution.id, "error": str(exc)})
