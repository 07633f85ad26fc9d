"""Retries: an execution that ends ``failed``, ``timeout`` or ``abandoned`` with retries left gets a
new execution (``original_execution`` = the first of the chain, ``retry_count + 1``) that may not
run before ``run_after`` (exponential backoff: ``retry_backoff * 2^retry_count`` seconds).

The terminal status and the retry are written in one transaction, so a crash leaves both or
neither. The retry's wake-up is published when its ``run_after`` comes (a local timer); if this
replica is gone by then, the reconciler publishes it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from attune_shared import executions
from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.errors import RetryableError
from attune_shared.models import Execution
from attune_shared.repos import ExecutionRepository, NewExecution, StatusChange
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.retries")

RETRIABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.ABANDONED})


class Wakeups:
    """Publishes ``execution.requested`` for executions when their ``run_after`` comes."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def at_run_after(self, execution: Execution) -> None:
        if execution.id in self._timers:
            return
        delay = 0.0
        if execution.run_after is not None:
            delay = max((execution.run_after - datetime.now(UTC)).total_seconds(), 0.0)
        loop = asyncio.get_running_loop()
        self._timers[execution.id] = loop.call_later(delay + 0.01, self._fire, execution)

    def _fire(self, execution: Execution) -> None:
        self._timers.pop(execution.id, None)
        task = asyncio.create_task(self._publish(execution))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, execution: Execution) -> None:
        try:
            await self.bus.execution_requested(
                ExecutionRequested(
                    execution_id=execution.id, created=execution.created, action_ref=execution.action_ref
                )
            )
        except Exception as exc:  # the reconciler publishes it later
            log.warning("wakeup.failed", extra={"execution": execution.id, "error": str(exc)})

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


def retry_of(
    execution: Execution, status: ExecutionStatus, settings: ExecutorSettings
) -> NewExecution | None:
    """The retry of ``execution`` ending in ``status``, or ``None`` when it gets none."""
    x = execution
    if status not in RETRIABLE or x.retry_count >= x.max_retries:
        return None
    delay = settings.retry_backoff * 2**x.retry_count
    return NewExecution(
        action_ref=x.action_ref,
        action=x.action,
        config=x.config,
        enforcement=x.enforcement,
        rule_ref=x.rule_ref,
        trigger_ref=x.trigger_ref,
        parent=x.parent,
        original_execution=x.original_execution or x.id,
        executor=x.executor,
        timeout_seconds=x.timeout_seconds,
        retry_count=x.retry_count + 1,
        max_retries=x.max_retries,
        retry_reason=str(status),
        run_after=datetime.now(UTC) + timedelta(seconds=delay),
        trace_tag=x.trace_tag,
    )


async def end_with_retry(
    pool: asyncpg.Pool,
    bus: Bus,
    wakeups: Wakeups,
    execution: Execution,
    status: ExecutionStatus,
    old: tuple[ExecutionStatus, ...],
    result: dict[str, Any],
    retry: NewExecution,
) -> bool:
    """CAS ``old`` -> ``status`` with ``result`` and create ``retry``, atomically; False if the CAS lost."""
    async with pool.acquire() as conn, conn.transaction():
        repo = ExecutionRepository(conn)
        created = await repo.create(retry)
        result = {**result, "retry": {"execution": created.id, "run_after": created.run_after}}
        previous = (
            await repo.update_status_many(
                [StatusChange(execution.id, execution.created, old, status, {"result": result})]
            )
        )[0]
        if previous is None:
            raise _Lost
    wakeups.at_run_after(created)
    try:
        await executions.announce(bus, execution, previous, status)
        await executions.announce(bus, created, None, ExecutionStatus.REQUESTED)
    except RetryableError as exc:  # committed: the announcement is lost, not the retry
        log.warning("execution.announce_failed", extra={"execution": execution.id, "error": str(exc)})
    log.info(
        "execution.retry",
        extra={
            "execution": execution.id,
            "retry": created.id,
            "status": str(status),
            "run_after": str(created.run_after),
        },
    )
    return True


class _Lost(Exception):
    pass


async def end(
    pool: asyncpg.Pool,
    bus: Bus,
    wakeups: Wakeups,
    execution: Execution,
    status: ExecutionStatus,
    old: tuple[ExecutionStatus, ...],
    result: dict[str, Any],
    settings: ExecutorSettings,
) -> bool | None:
    """End with a retry when one is due. ``None`` when no retry applies (the caller writes the
    status itself, batched); else whether the CAS won."""
    retry = retry_of(execution, status, settings)
    if retry is None:
        return None
    try:
        return await end_with_retry(pool, bus, wakeups, execution, status, old, result, retry)
    except _Lost:
        return False
