"""The end of an execution, in one place.

Runner completion (success, failure, timeout, cancel), orphans of dead workers, executions that
cannot be scheduled or started, and policy cancellations all end through :class:`Finisher`. For
each :class:`Ending` it decides retry-or-end, writes the change (a compare-and-set, batched with
the other endings of the moment; in one transaction with the retry when one is due), announces it,
counts it, releases the policy slots it held and publishes StackStorm's completion triggers
(``core.st2.generic.actiontrigger``, ``…notifytrigger``) when a rule listens to them. Exactly the
callers whose compare-and-set won see ``True``, and only they trigger what follows an end.

Retries: an execution ending ``failed``, ``timeout`` or ``abandoned`` with retries left gets a new
execution (``original_execution`` = the first of the chain, ``retry_count + 1``) that may not run
before ``run_after``: ``retry_backoff * 2^retry_count`` seconds, capped at ``retry_backoff_max``,
with jitter. Its wake-up is published when that time comes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from attune_executor.catalog_cache import CatalogCache
from attune_executor.policies import PolicyEngine
from attune_executor.wakeups import Wakeups
from attune_shared import executions
from attune_shared.batching import GroupWriter
from attune_shared.bus import Bus
from attune_shared.completion import CompletionTriggers
from attune_shared.metrics import EXECUTIONS_FINISHED
from attune_shared.models import Execution
from attune_shared.outage import is_unavailable
from attune_shared.repos import (
    ExecutionRepository,
    NewExecution,
    StatusChange,
    WorkflowTaskDispatchRepository,
)
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import ACTIVE_STATUSES, ExecutionStatus

if TYPE_CHECKING:
    from attune_shared.workflows.engine import WorkflowEngine

log = logging.getLogger("attune.executor.finishing")

RETRIABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.ABANDONED})
#: Most endings written by one statement.
MAX_BATCH = 256
#: Longest wait (s) between two attempts to record an end.
RECORD_RETRY_MAX_DELAY = 10.0


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
class Ending:
    """``execution`` ends ``status`` with ``result`` if its status is still one of ``expected``
    (default: the status it was read with)."""

    execution: Execution
    status: ExecutionStatus
    result: dict[str, Any]
    expected: tuple[ExecutionStatus, ...] = ()

    @property
    def old(self) -> tuple[ExecutionStatus, ...]:
        return self.expected or (self.execution.status,)

    def change(self, result: dict[str, Any] | None = None) -> StatusChange:
        """The compare-and-set that records this end (with ``result`` instead of its own)."""
        x = self.execution
        return StatusChange(
            x.id, x.created, self.old, self.status, {"result": self.result if result is None else result}
        )


def retry_delay(retry_count: int, settings: ExecutorSettings) -> float:
    """Seconds before retry number ``retry_count + 1``: exponential, capped, with jitter (so the
    retries of one outage do not all come back at once)."""
    delay = min(settings.retry_backoff * 2.0 ** min(retry_count, 64), settings.retry_backoff_max)
    return delay * random.uniform(0.5, 1.0)


def retry_of(
    execution: Execution, status: ExecutionStatus, settings: ExecutorSettings
) -> NewExecution | None:
    """The retry of ``execution`` ending in ``status``, or ``None`` when it gets none."""
    x = execution
    if status not in RETRIABLE or x.retry_count >= x.max_retries:
        return None
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
        run_after=datetime.now(UTC) + timedelta(seconds=retry_delay(x.retry_count, settings)),
        trace_tag=x.trace_tag,
        secrets=x.secrets,
        task_name=x.task_name,
        task_item=x.task_item,
    )


class Finisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        settings: ExecutorSettings,
        catalog: CatalogCache,
        policies: PolicyEngine,
        wakeups: Wakeups,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings
        self.catalog = catalog
        self.policies = policies
        self.wakeups = wakeups
        self.completion = CompletionTriggers(bus, catalog)
        #: set by the executor's context: workflows advance when one of their children ends
        self.workflows: WorkflowEngine | None = None
        self._writes = GroupWriter(
            self._write, key=lambda e: e.execution.id, max_batch=MAX_BATCH, after=self._announce
        )

    async def end(self, ending: Ending) -> bool:
        """End one execution; True if this call's compare-and-set won."""
        retry = retry_of(ending.execution, ending.status, self.settings)
        won = await (self._end_with_retry(ending, retry) if retry is not None else self._submit(ending))
        if won:
            await self._ended(ending, retried=retry is not None)
        return won

    async def end_workflow(
        self, execution: Execution, status: ExecutionStatus, result: dict[str, Any]
    ) -> bool:
        """How a workflow's execution ends (the engine's ``end``): as any execution, from whichever
        status its workflow left it in."""
        return await self.end(Ending(execution, status, result, tuple(sorted(ACTIVE_STATUSES))))

    async def end_many(self, endings: Sequence[Ending]) -> list[bool]:
        """:meth:`end` for several executions (each at most once), written together."""
        return list(await asyncio.gather(*(self.end(e) for e in endings)))

    async def end_until_recorded(self, ending: Ending, giving_up: Callable[[], bool]) -> bool:
        """:meth:`end`, tried again (backing off up to 10 s) until the database takes it or
        ``giving_up()``: an execution left ``running`` under a live worker would stay so forever.
        A replica that stops gives up; once its worker is inactive, the maintenance leader abandons
        what it could not record."""
        # a loop of its own, not tenacity's: its per-attempt machinery cost 4 % of the executor's
        # CPU in a noop burst, where the first attempt succeeds
        delay = 0.5
        while True:
            try:
                return await self.end(ending)
            except Exception as exc:
                if giving_up():
                    raise
                _log_retry(ending, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_DELAY)

    async def _ended(self, ending: Ending, *, retried: bool) -> None:
        """What follows an end this replica recorded: the log line, the policy queue, and the workflow
        the execution is a task of (unless the execution was retried: its retry is the task now).
        A failure here is logged, not raised: the end is committed (a policy queue not woken now is
        woken by the maintenance loop, a workflow not advanced by the workflow reconciler)."""
        x = ending.execution
        log.info(
            "execution.finished",
            extra={
                "execution": x.id,
                "action": x.action_ref,
                "status": str(ending.status),
                "rule": x.rule_ref,
                "enforcement": x.enforcement,
                "trace_tag": x.trace_tag,
            },
        )
        try:
            if x.parent is not None and not retried and self.workflows is not None:
                await self.workflows.child_changed(x, ending.status, ending.result)
            policies = (await self.catalog.policies([x.action_ref]))[x.action_ref]
            if policies:
                await self.policies.release(x, policies)
            action = (await self.catalog.actions([x.action_ref]))[x.action_ref]
            await self.completion.ended(x, action, ending.status, ending.result)
        except Exception as exc:
            log.warning(
                "execution.after_end_failed",
                extra={"execution": x.id, "error": f"{type(exc).__name__}: {exc}"},
                exc_info=not is_unavailable(exc),
            )

    async def _end_with_retry(self, ending: Ending, retry: NewExecution) -> bool:
        """The terminal status and its retry, in one transaction: a crash leaves both or neither."""
        x = ending.execution
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                repo = ExecutionRepository(conn)
                created = await repo.create(retry)
                if x.parent is not None:
                    await WorkflowTaskDispatchRepository(conn).follow_retry(x, created)
                result = {**ending.result, "retry": {"execution": created.id, "run_after": created.run_after}}
                previous = (await repo.update_status_many([ending.change(result)]))[0]
                if previous is None:
                    raise _Lost
        except _Lost:
            return False
        self.wakeups.at_run_after(created)
        _count([ending])
        await executions.announce(self.bus, x, (previous, ending.status))
        await executions.announce(self.bus, created, (None, ExecutionStatus.REQUESTED))
        log.info(
            "execution.retry",
            extra={
                "execution": x.id,
                "retry": created.id,
                "status": str(ending.status),
                "run_after": str(created.run_after),
            },
        )
        return True

    async def _submit(self, ending: Ending) -> bool:
        return await self._writes.submit(ending) is not None

    async def _write(self, endings: list[Ending]) -> list[ExecutionStatus | None]:
        """The compare-and-sets of the endings submitted together, in one statement: the status
        each one replaced (``None``: it lost)."""
        return await ExecutionRepository(self.pool).update_status_many([e.change() for e in endings])

    async def _announce(self, endings: list[Ending], previous: Sequence[ExecutionStatus | None]) -> None:
        """Once the callers go on: the changes that won, counted and announced."""
        won = [(e, old) for e, old in zip(endings, previous, strict=True) if old is not None]
        _count([e for e, _ in won])
        await executions.announce_many(self.bus, ((e.execution, ((old, e.status),)) for e, old in won))


def _count(endings: Sequence[Ending]) -> None:
    """The ends recorded, in ``attune_executions_finished_total``: one increment per action and
    status of a batch, rather than a label lookup and a lock per execution."""
    for (action_ref, status), n in Counter((e.execution.action_ref, str(e.status)) for e in endings).items():
        EXECUTIONS_FINISHED.labels(action_ref, status).inc(n)


class _Lost(Exception):
    """The compare-and-set lost: the transaction is rolled back (and the retry with it)."""


def _log_retry(ending: Ending, exc: BaseException) -> None:
    log.warning(
        "execution.end_retry",
        extra={"execution": ending.execution.id, "error": f"{type(exc).__name__}: {exc}"},
        exc_info=not is_unavailable(exc),
    )
