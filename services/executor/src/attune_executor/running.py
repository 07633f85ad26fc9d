"""The actions this replica runs: start, stop (cancel, shutdown), and their end (through the
:class:`~attune_executor.finishing.Finisher`). Each run holds one capacity credit of the executions
consumer while the action runs: a replica never runs more actions at once than its concurrency.
The credit is given back when the action returns, before its end is recorded, so that the next
runs start while the ends are written (together, in one statement); at most ``UNRECORDED_ENDS``
wait to be recorded that way, and past that a run keeps its credit until its end is recorded, so a
slow database slows the intake instead of piling up ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from attune_executor.context import ExecutorContext
from attune_executor.finishing import MAX_BATCH, Ending
from attune_executor.runners import ActionSupport, RunContext, Runners, RunResult
from attune_shared.bus import Credit
from attune_shared.executions import cancelled_result
from attune_shared.metrics import RUNNING_ACTIONS, action_seconds
from attune_shared.models import Action, Execution, Pack
from attune_shared.parameters import unseal
from attune_shared.secrets import SecretDecryptError
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.running")

#: Most ends of runs that gave their credit back and wait to be recorded: one statement's worth.
UNRECORDED_ENDS = MAX_BATCH
#: How long a `canceling` seen for a run not (yet) registered is remembered, in seconds.
EARLY_CANCEL_MEMORY = 30.0
#: Most such cancels remembered at once.
EARLY_CANCEL_MAX = 10_000


@dataclass
class Run:
    execution: Execution
    ctx: RunContext
    task: asyncio.Task[None] | None = None
    #: the capacity this run takes, given back when the action returns (or when its end is recorded)
    credit: Credit | None = None
    #: stopped because the executor shuts down (not a user's cancel)
    shutdown: bool = False
    cancel_requested: bool = False
    #: the announcement of its start, which its end's announcement must follow
    announced: asyncio.Future[None] | None = None


class EarlyCancels:
    """Cancels seen for runs not registered (yet), each remembered ``memory`` seconds, at most
    ``limit`` at once: a run that registers right after is stopped at once. Remembering and taking
    cost the same however many are remembered (they are kept in the order they came)."""

    def __init__(
        self,
        memory: float = EARLY_CANCEL_MEMORY,
        limit: int = EARLY_CANCEL_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory = memory
        self.limit = limit
        self.clock = clock
        self._seen: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, execution_id: int) -> None:
        now = self.clock()
        seen = self._seen
        seen.pop(execution_id, None)
        seen[execution_id] = now
        horizon = now - self.memory
        while seen and (len(seen) > self.limit or next(iter(seen.values())) <= horizon):
            del seen[next(iter(seen))]

    def take(self, execution_id: int) -> bool:
        """Whether a cancel of ``execution_id`` was seen within ``memory``; it is forgotten."""
        at = self._seen.pop(execution_id, None)
        return at is not None and at > self.clock() - self.memory


class RunManager:
    def __init__(self, context: ExecutorContext) -> None:
        self.settings = context.settings
        self.finisher = context.finisher
        self.box = context.box
        self.runners = Runners(ActionSupport(context.datastore, context.bus, context.packs))
        self.runs: dict[int, Run] = {}
        #: runs whose action returned and whose credit was given back, their end not recorded yet
        self.recording = 0
        #: runs whose action is running now; the gauge reads it when scraped (an increment and a
        #: decrement per run cost a lock each)
        self.acting = 0
        RUNNING_ACTIONS.set_function(lambda: self.acting)
        #: executions seen `canceling` before their run was registered here
        self._early_cancels = EarlyCancels()
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

    def start(
        self, run: Run, execution: Execution, credit: Credit, *, announced: asyncio.Future[None] | None = None
    ) -> None:
        """Run it, holding ``credit`` while the action runs; with ``announced``, its end is recorded
        only after that (its start's announcement)."""
        run.execution = run.ctx.execution = execution
        run.credit = credit
        run.announced = announced
        run.task = asyncio.create_task(self._run(run))
        if self._early_cancels.take(execution.id):
            self.cancel(execution.id)

    def cancel(self, execution_id: int) -> bool:
        """Stop a run because its execution is ``canceling``; False when it does not run here (yet:
        a run starting right after is stopped at once)."""
        run = self.runs.get(execution_id)
        if run is None:
            self._early_cancels.remember(execution_id)
            return False
        if run.cancel_requested:
            return False
        run.cancel_requested = True
        run.ctx.stop.set()
        log.info("execution.cancelling", extra={"execution": execution_id})
        return True

    async def _run(self, run: Run) -> None:
        try:
            result = await self._action(run)
            early = self.recording < UNRECORDED_ENDS
            if early:
                self.recording += 1
                if run.credit is not None:
                    run.credit.release()
            try:
                await self._record(run, result)
            finally:
                if early:
                    self.recording -= 1
        except Exception:
            log.exception("run.finish_failed", extra={"execution": run.execution.id})
        finally:
            self.runs.pop(run.execution.id, None)
            if run.credit is not None:
                run.credit.release()

    async def _action(self, run: Run) -> RunResult:
        self.acting += 1
        try:
            # the sealed (secret) parameters are opened only here, for the action itself
            run.ctx.params = unseal(run.execution.config, run.execution.secrets, self.box)
            result = await self.runners.run(run.ctx)
        except SecretDecryptError as exc:
            result = RunResult(False, None, run.ctx.elapsed_ms(), error=f"secret parameters: {exc}")
        except Exception as exc:
            log.exception("run.crashed", extra={"execution": run.execution.id})
            result = RunResult(
                False, None, run.ctx.elapsed_ms(), error=f"executor error: {type(exc).__name__}: {exc}"
            )
        finally:
            self.acting -= 1
        action_seconds(run.ctx.action.runner_type).observe(result.duration_ms / 1000)
        return result

    async def _record(self, run: Run, result: RunResult) -> None:
        if run.announced is not None and not run.announced.done():
            await asyncio.wait((run.announced,))
        ending = self._ending(run, result)
        if not await self.finisher.end_until_recorded(ending, lambda: self.stopping):
            log.warning("run.lost", extra={"execution": run.execution.id, "status": str(ending.status)})

    @staticmethod
    def _ending(run: Run, outcome: RunResult) -> Ending:
        status = outcome.status
        result = outcome.to_dict()
        expected: tuple[ExecutionStatus, ...] = (ExecutionStatus.RUNNING, ExecutionStatus.CANCELING)
        if status is ExecutionStatus.CANCELLED:
            if run.shutdown:
                status = ExecutionStatus.ABANDONED
                result.pop("cancelled", None)
                result.update(abandoned=True, error="the executor shut down before the action finished")
            else:
                expected = (ExecutionStatus.CANCELING,)
                result.update(cancelled_result())
        return Ending(run.execution, status, result, expected)

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
