"""The executor process: register the worker, start the consumers and loops, stop gracefully.

Shutdown (SIGTERM): stop fetching, finish the batches in flight, give running actions
``shutdown_grace`` seconds (then kill them; they end ``abandoned``, retried when retries are left),
mark the worker ``inactive``, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from attune_executor.cancel import CancelWatcher
from attune_executor.context import ExecutorContext
from attune_executor.enforcements import EnforcementProcessor
from attune_executor.events import EventProcessor
from attune_executor.liveness import Liveness
from attune_executor.maintenance import Maintenance
from attune_executor.running import RunManager
from attune_executor.scheduler import Scheduler
from attune_executor.worker import WorkerPresence
from attune_shared.bus import (
    BatchConsumer,
    Credits,
    Delivery,
    EnforcementCreated,
    EventCreated,
    ExecutionRequested,
    RuleChanged,
    model_parser,
)
from attune_shared.bus.specs import EXECUTOR_ENFORCEMENTS, EXECUTOR_EVENTS, EXECUTOR_EXECUTIONS
from attune_shared.metrics import serve_metrics
from attune_shared.repos import ExecutionRepository
from attune_shared.runtime import Runtime, connect, follow_rule_changes, ready
from attune_shared.settings import Settings
from attune_shared.statuses import ExecutionStatus

SERVICE = "executor"

log = logging.getLogger("attune.executor")

#: Messages of the event consumer, and of the enforcement consumer, in flight at once per replica:
#: two batches each, so a flood of events does not starve the later stages of the event loop.
PIPELINE_CREDITS = 128
#: Largest batch per fetch.
BATCH_SIZE = 64


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    """Run until ``stopping`` is set; then finish or hand back the work in hand (module docstring)."""
    serve_metrics(settings.executor.metrics_port, settings.executor.metrics_host)
    async with connect(settings, SERVICE) as rt:
        await Executor(rt).serve(stopping)


class Executor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        self.settings = settings
        self.context = ExecutorContext.create(runtime.pool, runtime.bus, settings)
        self.presence = WorkerPresence(runtime.pool, settings.executor)
        self.slots = Credits(settings.executor.concurrency)
        self.runs = RunManager(self.context)
        self.liveness = Liveness(self.context)
        self.maintenance = Maintenance(
            self.context, settings, runtime.broker.connection, runtime.spec, self.liveness
        )
        self.cancels = CancelWatcher(
            runtime.broker.connection,
            runtime.spec.subjects,
            runtime.pool,
            self.runs,
            settings.executor.cancel_check_interval,
        )
        self._tasks: list[asyncio.Task[Any]] = []

    async def serve(self, stopping: asyncio.Event) -> None:
        settings = self.settings
        await self.presence.claim_name()
        worker = await self.presence.register()
        await self._recover_own(worker.id)
        scheduler = Scheduler(self.context, self.runs, self.slots, worker.id)
        enforcements = EnforcementProcessor(self.context, scheduler)
        events = EventProcessor(self.context, enforcements)
        # a run that ends finds the work that follows it already here, without a pull round trip
        concurrency = settings.executor.concurrency
        consumers: list[BatchConsumer[Any]] = [
            # events are taken as run slots free, so that their executions start where they are
            # created; a whole set of slots' worth waits here, so that the slots freed at once by
            # a batch's runs are refilled by one batch (docs/executor.md, "Consuming with
            # backpressure")
            self._consumer(
                EXECUTOR_EVENTS,
                EventCreated,
                events.handle,
                Credits(PIPELINE_CREDITS),
                room=self.slots,
                prefetch=concurrency,
            ),
            self._consumer(
                EXECUTOR_ENFORCEMENTS, EnforcementCreated, enforcements.handle, Credits(PIPELINE_CREDITS)
            ),
            self._consumer(
                EXECUTOR_EXECUTIONS,
                ExecutionRequested,
                scheduler.handle,
                self.slots,
                prefetch=max(1, concurrency // 4),
            ),
        ]
        rules = await follow_rule_changes(self.rt, self._on_rule_changed)
        await self.cancels.start()
        for consumer in consumers:
            await consumer.start()
        self._spawn(*(c.run() for c in consumers))
        self._spawn(
            self.presence.heartbeat(stopping), self.maintenance.run(stopping), self.cancels.run(stopping)
        )
        ready(
            SERVICE,
            worker=self.presence.name,
            worker_id=worker.id,
            concurrency=settings.executor.concurrency,
        )
        await stopping.wait()

        log.info("executor.stopping", extra={"running": len(self.runs.runs)})
        for consumer in consumers:
            consumer.stop()  # batches in flight finish
        await self._join(self._tasks[: len(consumers)])
        await self.runs.drain(settings.executor.shutdown_grace)
        await self.context.workflows.close()
        self.context.wakeups.close()
        await self._join(self._tasks[len(consumers) :])
        with contextlib.suppress(Exception):
            await rules.unsubscribe()
        await self.cancels.stop()
        await self._hand_back(worker.id)
        await self.presence.deregister()
        await self.runs.close()

    def _consumer(
        self,
        durable: str,
        model: type[Any],
        handler: Callable[[list[Delivery[Any]]], Awaitable[None]],
        credits: Credits,
        prefetch: int = 0,
        room: Credits | None = None,
    ) -> BatchConsumer[Any]:
        rt = self.rt
        return BatchConsumer(
            rt.broker.connection,
            rt.spec,
            durable,
            model_parser(model),
            handler,
            rt.settler,
            credits,
            rt.gate,
            batch_size=BATCH_SIZE,
            prefetch=prefetch,
            room=room,
        )

    def _spawn(self, *coros: Coroutine[Any, Any, Any]) -> None:
        for coro in coros:
            self._tasks.append(asyncio.create_task(coro))

    @staticmethod
    async def _join(tasks: list[asyncio.Task[Any]]) -> None:
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("task.failed", exc_info=result)

    async def _on_rule_changed(self, change: RuleChanged) -> None:
        self.context.catalog.rules_changed()
        log.info("rule.changed", extra={"rule": change.rule_ref, "op": change.op})

    async def _recover_own(self, worker_id: int) -> None:
        """Executions a previous process with this worker name left behind cannot be ours: end them."""
        leftovers = await ExecutionRepository(self.rt.pool).of_worker(
            worker_id, [ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING, ExecutionStatus.CANCELING]
        )
        if leftovers:
            why = f"its executor {self.presence.name} restarted while it ran"
            changed = await self.liveness.end_orphans(leftovers, why)
            log.warning("executor.recovered", extra={"executions": changed})

    async def _hand_back(self, worker_id: int) -> None:
        """Scheduled executions never started here go back to ``requested`` for another replica."""
        scheduled = await ExecutionRepository(self.rt.pool).of_worker(worker_id, [ExecutionStatus.SCHEDULED])
        await self.liveness.hand_back(scheduled)
