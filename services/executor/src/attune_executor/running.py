"""The actions this replica runs: start, stop (cancel, shutdown), and the terminal status."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg

from attune_executor.batcher import TransitionBatcher
from attune_executor.catalog import Catalog
from attune_executor.policies import PolicyEngine
from attune_executor.retries import Wakeups, end
from attune_executor.runners import RunContext, Runners, RunResult
from attune_shared.bus import Bus, Credits
from attune_shared.executions import Transition, cancelled_result
from attune_shared.metrics import ACTION_SECONDS, EXECUTIONS_FINISHED, RUNNING_ACTIONS
from attune_shared.models import Action, Execution, Pack
from attune_shared.outage import is_unavailable
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.running")

#: How long a `canceling` seen for a run not (yet) registered is remembered, in seconds.
EARLY_CANCEL_MEMORY = 30.0
#: First and longest pause between attempts to record a finished run, in seconds.
FINISH_RETRY_DELAY = 0.5
FINISH_RETRY_MAX_DELAY = 10.0


@dataclass
class Run:
    execution: Execution
    ctx: RunContext
    task: asyncio.Task[None] | None = None
    #: stopped because the executor shuts down (not a user's cancel)
    shutdown: bool = False
    cancel_requested: bool = False
    #: the announcement of its start, which its end's announcement must follow
    announced: asyncio.Future[None] | None = None


class RunManager:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        settings: ExecutorSettings,
        credits: Credits,
        catalog: Catalog,
        policies: PolicyEngine,
        wakeups: Wakeups,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings
        self.credits = credits
        self.catalog = catalog
        self.policies = policies
        self.wakeups = wakeups
        self.runners = Runners()
        self.batcher = TransitionBatcher(pool, bus)
        self.runs: dict[int, Run] = {}
        #: executions seen `canceling` before their run was registered here, with when
        self._early_cancels: dict[int, float] = {}
        self.stopping = False

    def prepare(self, execution: Execution, action: Action, pack: Pack | None) -> Run:
        """Register a run before it is marked ``running``, so a cancel arriving meanwhile is not missed."""
        timeout = float(execution.timeout_seconds or self.settings.default_timeout)
        ctx = RunContext(execution, action, pack, dict(execution.config), timeout, self.settings)
        run = Run(execution, ctx)
        self.runs[execution.id] = run
        return run

    def discard(self, run: Run) -> None:
        """The run will not happen (it lost the ``running`` compare-and-set)."""
        self.runs.pop(run.execution.id, None)

    def start(self, run: Run, execution: Execution, *, announced: asyncio.Future[None] | None = None) -> None:
        """Run it; with ``announced``, its end is recorded only after that (its start's announcement)."""
        run.execution = run.ctx.execution = execution
        run.announced = announced
        run.task = asyncio.create_task(self._run(run))
        if self._early_cancels:
            horizon = time.monotonic() - EARLY_CANCEL_MEMORY
            self._early_cancels = {i: t for i, t in self._early_cancels.items() if t > horizon}
            if self._early_cancels.pop(execution.id, None) is not None:
                self.cancel(execution.id)

    def cancel(self, execution_id: int) -> bool:
        """Stop a run because its execution is ``canceling``; False when it does not run here (yet:
        a run starting right after is stopped at once)."""
        run = self.runs.get(execution_id)
        if run is None:
            if len(self._early_cancels) > 10_000:
                self._early_cancels.clear()
            self._early_cancels[execution_id] = time.monotonic()
            return False
        if run.cancel_requested:
            return False
        run.cancel_requested = True
        run.ctx.stop.set()
        log.info("execution.cancelling", extra={"execution": execution_id})
        return True

    async def _run(self, run: Run) -> None:
        RUNNING_ACTIONS.inc()
        try:
            try:
                result = await self.runners.run(run.ctx)
            except Exception as exc:
                log.exception("run.crashed", extra={"execution": run.execution.id})
                result = RunResult(
                    False, None, run.ctx.elapsed_ms(), error=f"executor error: {type(exc).__name__}: {exc}"
                )
            ACTION_SECONDS.labels(run.ctx.action.runner_type).observe(result.duration_ms / 1000)
            if run.announced is not None:
                await asyncio.gather(run.announced, return_exceptions=True)
            await self._finish(run, result)
        except Exception:
            log.exception("run.finish_failed", extra={"execution": run.execution.id})
        finally:
            # the slot is free once the result is recorded: a worker never shows more `running`
            # executions than its concurrency
            RUNNING_ACTIONS.dec()
            self.runs.pop(run.execution.id, None)
            self.credits.give()

    async def _finish(self, run: Run, outcome: RunResult) -> None:
        x = run.execution
        status = outcome.status
        result = outcome.to_dict()
        old: tuple[ExecutionStatus, ...] = (ExecutionStatus.RUNNING, ExecutionStatus.CANCELING)
        if status is ExecutionStatus.CANCELLED:
            if run.shutdown:
                status = ExecutionStatus.ABANDONED
                result.pop("cancelled", None)
                result.update(abandoned=True, error="the executor shut down before the action finished")
            else:
                old = (ExecutionStatus.CANCELING,)
                result.update(cancelled_result())
        delay = FINISH_RETRY_DELAY
        while True:
            # An execution left `running` under a live worker would stay so forever: keep trying
            # (the writes are compare-and-sets). A replica that stops gives up; once its worker is
            # inactive the maintenance leader abandons what it could not record.
            try:
                won = await end(self.pool, self.bus, self.wakeups, x, status, old, result, self.settings)
                if won is None:
                    won = await self.batcher.submit(
                        Transition(x, status, old=old, changes={"result": result})
                    )
                break
            except Exception as exc:
                if self.stopping:
                    raise
                log.warning(
                    "run.finish_retry",
                    extra={"execution": x.id, "error": f"{type(exc).__name__}: {exc}"},
                    exc_info=not is_unavailable(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, FINISH_RETRY_MAX_DELAY)
        if not won:
            log.warning("run.lost", extra={"execution": x.id, "status": str(status)})
            return
        EXECUTIONS_FINISHED.labels(x.action_ref, str(status)).inc()
        policies = (await self.catalog.policies([x.action_ref]))[x.action_ref]
        if policies:
            await self.policies.release(x, policies)

    async def drain(self, grace: float) -> None:
        """Let running actions finish for ``grace`` seconds; stop the rest (they end ``abandoned``)."""
        self.stopping = True
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        if tasks:
            log.info("shutdown.waiting", extra={"running": len(tasks), "grace": grace})
            await asyncio.wait(tasks, timeout=grace)
        remaining = [r for r in self.runs.values() if r.task is not None and not r.task.done()]
        for run in remaining:
            run.shutdown = True
            run.ctx.stop.set()
        if remaining:
            log.warning("shutdown.stopping_runs", extra={"running": len(remaining)})
            await asyncio.wait(
                [r.task for r in remaining if r.task is not None], timeout=self.settings.kill_grace + 10
            )

    async def close(self) -> None:
        await self.runners.close()
