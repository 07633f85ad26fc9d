"""The maintenance loop: one replica at a time (a PostgreSQL session advisory lock held on a
dedicated connection) watches liveness, repairs lost messages and purges old rows.

Every ``maintenance_interval`` seconds the leader:
- marks workers without a heartbeat for ``worker_timeout`` ``inactive``;
- ends executions whose worker is dead: ``running`` -> ``abandoned`` (retried when retries are
  left), ``canceling`` -> ``cancelled``; ``scheduled`` ones never started go back to ``requested``;
- fails ``scheduled`` executions not started within ``scheduled_timeout``;
- republishes ``requested`` executions and ``created`` enforcements untouched for
  ``reconcile_after`` (only while their consumer has no backlog: a backlog means the messages
  exist), and returns ``scheduling`` ones whose scheduler stopped to ``requested``;
- repairs workflows (:meth:`~attune_shared.workflows.engine.WorkflowEngine.reconcile`): children
  whose end their workflow never heard of, workflows whose execution does not show their status,
  workflows that never started; and ends workflows past their timeout;
- wakes the head of every policy queue, and deletes admissions nothing needs;
- deletes datastore keys past their expiry (readers stopped seeing them when it passed);
- times out the inquiries not answered within their ttl (their executions end ``timeout``);
- runs the plain-PostgreSQL retention job every ``retention_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from attune_executor.context import ExecutorContext
from attune_executor.finishing import Ending
from attune_executor.liveness import Liveness
from attune_executor.wakeups import wake
from attune_shared import executions, inquiries
from attune_shared.bus import BusSpec, EnforcementCreated, ExecutionRequested, gather_bounded
from attune_shared.bus.specs import EXECUTOR_ENFORCEMENTS, EXECUTOR_EXECUTIONS
from attune_shared.constants import MAINTENANCE_LOCK_KEY
from attune_shared.db import connect
from attune_shared.executions import Transition
from attune_shared.models import Execution
from attune_shared.repos import (
    EnforcementRepository,
    ExecutionRepository,
    KeyRepository,
    PolicyAdmissionRepository,
    WorkerRepository,
)
from attune_shared.retention import purge_expired
from attune_shared.settings import Settings
from attune_shared.statuses import ExecutionStatus, WorkerStatus

log = logging.getLogger("attune.executor.maintenance")

#: Rows handled per kind and round.
BATCH = 500

S = ExecutionStatus


class Maintenance:
    def __init__(
        self, context: ExecutorContext, settings: Settings, nc: NatsClient, spec: BusSpec, liveness: Liveness
    ) -> None:
        self.context = context
        self.settings = settings
        self.ex = settings.executor
        self.pool = context.pool
        self.bus = context.bus
        self.nc = nc
        self.spec = spec
        self.liveness = liveness
        self._conn: asyncpg.Connection | None = None
        self._leader = False
        self._trusted_from = 0.0
        self._last_retention = 0.0

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    if await self._lead():
                        await self.round()
                except Exception as exc:
                    # after trouble, judge no worker dead before all had time to heartbeat again
                    self._trusted_from = time.monotonic() + self.ex.worker_timeout
                    log.warning(
                        "maintenance.failed",
                        extra={"error": f"{type(exc).__name__}: {exc}"},
                        exc_info=not isinstance(exc, OSError),
                    )
                try:
                    await asyncio.wait_for(stopping.wait(), self.ex.maintenance_interval)
                except TimeoutError:
                    pass
        finally:
            await self._resign()

    async def _lead(self) -> bool:
        if self._conn is not None and self._conn.is_closed():
            self._conn, self._leader = None, False
        if self._conn is None:
            self._conn = await connect(
                self.settings.database, application_name="attune-executor-monitor", wait=0
            )
        if not self._leader:
            self._leader = bool(
                await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
            )
            if self._leader:
                self._trusted_from = time.monotonic() + self.ex.worker_timeout
                log.info("maintenance.leader")
        else:
            await self._conn.fetchval("SELECT 1")  # the lock lives as long as this connection
        return self._leader

    async def _resign(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.close(timeout=5)
            except Exception:
                pass
        self._conn, self._leader = None, False

    async def round(self) -> dict[str, Any]:
        """One pass of every duty; returns what each did (for logs and tests)."""
        # Workers are judged only once this leader has talked to the database for worker_timeout:
        # after an outage (or a change of leader) every live worker has heartbeated by then.
        judge = time.monotonic() >= self._trusted_from
        done: dict[str, Any] = {
            "stale_workers": await self.mark_stale_workers() if judge else 0,
            "orphans": await self.end_orphans() if judge else 0,
            "unstarted": await self.fail_unstarted(),
            "republished": await self.reconcile(),
            "workflows": await self.context.workflows.reconcile(
                timedelta(seconds=self.ex.reconcile_after), limit=BATCH
            ),
            "queues_woken": await self.wake_queues(),
            "admissions_purged": await PolicyAdmissionRepository(self.pool).purge(),
            "keys_expired": await KeyRepository(self.pool).purge_expired(),
            "inquiries_timed_out": await inquiries.expire(
                self.pool, self._end_inquiry, self.context.workflows.resume, limit=BATCH
            ),
        }
        if time.monotonic() - self._last_retention >= self.ex.retention_interval:
            self._last_retention = time.monotonic()
            purged = await purge_expired(self.pool, self.settings.retention)
            if purged and any(purged.values()):
                done["retention"] = purged
        repaired = any(
            done[k]
            for k in (
                "stale_workers",
                "orphans",
                "unstarted",
                "republished",
                "retention",
                "inquiries_timed_out",
            )
            if k in done
        ) or any(done["workflows"].values())
        log.log(logging.INFO if repaired else logging.DEBUG, "maintenance.round", extra=done)
        return done

    async def _end_inquiry(
        self, execution: Execution, status: ExecutionStatus, result: dict[str, Any]
    ) -> bool:
        return await self.context.finisher.end(Ending(execution, status, result, (S.PENDING,)))

    async def mark_stale_workers(self) -> int:
        repo = WorkerRepository(self.pool)
        marked = 0
        for worker in await repo.stale(timedelta(seconds=self.ex.worker_timeout)):
            if await repo.set_status(worker.id, WorkerStatus.INACTIVE, expected=worker.status):
                marked += 1
                log.warning(
                    "worker.stale",
                    extra={"worker": worker.name, "last_heartbeat": str(worker.last_heartbeat)},
                )
        return marked

    async def end_orphans(self) -> int:
        orphans = await ExecutionRepository(self.pool).without_live_worker(
            [S.SCHEDULED, S.RUNNING, S.CANCELING], timedelta(seconds=self.ex.worker_timeout), limit=BATCH
        )
        if not orphans:
            return 0
        workers = await WorkerRepository(self.pool).get_many(
            {x.worker for x in orphans if x.worker is not None}
        )
        changed = 0
        for worker_id in {x.worker for x in orphans}:
            worker = workers.get(worker_id) if worker_id is not None else None
            if worker is None:
                why = "its executor is unknown (no worker row)"
            else:
                why = f"its executor {worker.name} stopped (status {worker.status}, last heartbeat {worker.last_heartbeat.isoformat()})"
            changed += await self.liveness.end_orphans([x for x in orphans if x.worker == worker_id], why)
        return changed

    async def fail_unstarted(self) -> int:
        stuck = await ExecutionRepository(self.pool).stuck(
            [S.SCHEDULED], timedelta(seconds=self.ex.scheduled_timeout), limit=BATCH
        )
        if not stuck:
            return 0
        reason = f"not started within scheduled_timeout ({self.ex.scheduled_timeout:g} s)"
        won = await self.context.finisher.end_many(
            [Ending(x, S.FAILED, {"succeeded": False, "error": reason}) for x in stuck]
        )
        return sum(won)

    async def reconcile(self) -> int:
        after = timedelta(seconds=self.ex.reconcile_after)
        repo = ExecutionRepository(self.pool)
        republished = 0
        stalled = await repo.scheduling_unqueued(after, limit=BATCH)
        if stalled:
            back = await executions.transition_many(
                self.pool, self.bus, [Transition(x, S.REQUESTED) for x in stalled]
            )
            republished += await self._publish_requested(
                [x for x, ok in zip(stalled, back, strict=True) if ok]
            )
        if await self._backlog(EXECUTOR_EXECUTIONS) == 0:
            republished += await self._publish_requested(await repo.requested_due(after, limit=BATCH))
        if await self._backlog(EXECUTOR_ENFORCEMENTS) == 0:
            pending = await EnforcementRepository(self.pool).pending(after, limit=BATCH)
            await gather_bounded(
                self.bus.enforcement_created(
                    EnforcementCreated(enforcement_id=e.id, created=e.created, rule_ref=e.rule_ref)
                )
                for e in pending
            )
            republished += len(pending)
        return republished

    async def _publish_requested(self, xs: list[Execution]) -> int:
        await gather_bounded(wake(self.bus, x) for x in xs)
        return len(xs)

    async def _backlog(self, durable: str) -> int:
        try:
            info = await self.nc.jsm().consumer_info(self.spec.work_stream, durable)
        except (NatsError, TimeoutError) as exc:
            log.warning("maintenance.consumer_info_failed", extra={"durable": durable, "error": str(exc)})
            return -1
        return int(info.num_pending or 0)

    async def wake_queues(self) -> int:
        heads = await PolicyAdmissionRepository(self.pool).heads()
        await gather_bounded(
            self.bus.execution_requested(
                ExecutionRequested(
                    execution_id=h.execution, created=h.execution_created, action_ref=h.action_ref
                )
            )
            for h in heads
        )
        return len(heads)
