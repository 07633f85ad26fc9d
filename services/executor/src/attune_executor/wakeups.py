"""Wake-ups: ``execution.requested`` published for an execution when its ``run_after`` comes (a
retry's backoff). A local timer; if this replica is gone by then, the reconciler publishes it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.errors import RetryableError
from attune_shared.models import Execution

log = logging.getLogger("attune.executor.wakeups")


async def wake(bus: Bus, execution: Execution) -> None:
    """Publish ``execution.requested`` for ``execution`` now."""
    await bus.execution_requested(
        ExecutionRequested(
            execution_id=execution.id, created=execution.created, action_ref=execution.action_ref
        )
    )


class Wakeups:
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
            await wake(self.bus, execution)
        except RetryableError as exc:  # the reconciler publishes it later
            log.warning("wakeup.failed", extra={"execution": execution.id, "error": str(exc)})

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
