"""Workflows (migration 0012): definitions, the state of each workflow execution, and the child
executions each one dispatched.

A workflow execution's row is written only by a transaction that first took its lock
(:meth:`WorkflowExecutionRepository.lock`); its dispatch rows in the same transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from attune_shared.constants import WORKFLOW_RUNNER_TYPE
from attune_shared.models import Execution, WorkflowDefinition, WorkflowExecution, WorkflowTaskDispatch
from attune_shared.repos.base import MAX_PAGE, Filters, Repository
from attune_shared.repos.catalog import PackComponentRepository
from attune_shared.repos.execution import ExecutionRepository, NewExecution, insert_many
from attune_shared.statuses import TERMINAL_STATUSES, ExecutionStatus

_TERMINAL = sorted(TERMINAL_STATUSES)
#: The predicate of the partial index of dispatches not reported terminal (written as in 0012).
_OPEN_DISPATCH = (
    "(d.reported IS NULL OR d.reported NOT IN ('completed', 'failed', 'cancelled', 'timeout', 'abandoned'))"
)
#: Child statuses the conductor hears about: the terminal ones, and waiting for a person or paused.
REPORTED_STATUSES = frozenset({*TERMINAL_STATUSES, ExecutionStatus.PENDING, ExecutionStatus.PAUSED})


#: Every execution column, for queries that join executions as ``x``.
_X_COLUMNS = ", ".join(f"x.{c}" for c in ExecutionRepository.columns)
#: Dispatch rows ``d`` with their child executions ``x``.
_DISPATCHED = (
    "workflow_task_dispatch d JOIN execution x ON x.id = d.execution AND x.created = d.execution_created"
)


def _executions(records: Iterable[Mapping[str, Any]]) -> builtins.list[Execution]:
    return [Execution.model_validate(dict(r)) for r in records]


class WorkflowDefinitionRepository(PackComponentRepository[WorkflowDefinition]):
    table = "workflow_definition"

    async def owned_by_pack(self, pack_ref: str) -> builtins.list[WorkflowDefinition]:
        return await self._select(Filters().add("pack_ref = ?", pack_ref), order="ref")


class WorkflowExecutionRepository(Repository[WorkflowExecution]):
    table = "workflow_execution"

    async def reserve_id(self) -> int:
        """An id for a workflow execution about to be created (its context names it)."""
        value: int = await self.db.fetchval(
            "SELECT nextval(pg_get_serial_sequence('workflow_execution', 'id'))"
        )
        return value

    async def create(self, values: dict[str, Any]) -> WorkflowExecution | None:
        """Insert with a reserved ``id``; ``None`` if the execution has its workflow already."""
        names = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO workflow_execution ({', '.join(names)}) VALUES ({placeholders}) "
            f"ON CONFLICT (execution) DO NOTHING RETURNING {self.select_list}",
            *values.values(),
        )
        return None if record is None else self._row(record)

    async def lock(self, execution: int) -> tuple[WorkflowExecution, Execution] | None:
        """The workflow of an execution (and the execution), the workflow's row locked until the
        transaction ends; ``None`` when the execution has no workflow (or is gone)."""
        found = await self._with_executions("w.execution = $1", execution, 1, lock=True)
        return found[0] if found else None

    async def lock_execution(self, id: int, created: datetime) -> Execution | None:
        """An execution about to get its workflow, its row locked until the transaction ends (so
        its status cannot change meanwhile)."""
        record = await self.db.fetchrow(
            f"SELECT {ExecutionRepository.select_list} FROM execution WHERE id = $1 AND created = $2 FOR UPDATE",
            id,
            created,
        )
        return None if record is None else Execution.model_validate(dict(record))

    async def of_executions(self, executions: Collection[int]) -> dict[int, WorkflowExecution]:
        """Workflows by their execution's id (unlocked reads)."""
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM workflow_execution WHERE execution = ANY($1::bigint[])",
            list(executions),
        )
        return {r["execution"]: self._row(r) for r in records}

    async def save(
        self,
        id: int,
        status: ExecutionStatus,
        state: dict[str, Any],
        result: dict[str, Any] | None,
        reported: dict[str, ExecutionStatus] | None = None,
        *,
        secrets: str | None = None,
    ) -> None:
        """Write a step: the status, state (or the encrypted state, ``secrets``) and result, and
        the child statuses the conductor was given (by dispatch key), in one statement."""
        reported = reported or {}
        await self.db.execute(
            "WITH r AS (UPDATE workflow_task_dispatch d SET reported = u.s "
            "FROM unnest($5::text[], $6::text[]) AS u(k, s) "
            "WHERE d.workflow_execution = $1 AND d.dispatch_key = u.k) "
            "UPDATE workflow_execution SET status = $2, state = $3, result = $4, secrets = $7 WHERE id = $1",
            id,
            status,
            state,
            result,
            list(reported),
            [str(s) for s in reported.values()],
            secrets,
        )

    async def close(self, id: int) -> None:
        """The execution's terminal status is recorded: the reconciler watches this row no more."""
        await self.db.execute(
            "UPDATE workflow_execution SET closed_at = now() WHERE id = $1 AND closed_at IS NULL", id
        )

    async def out_of_step(
        self, older_than: timedelta, *, limit: int = MAX_PAGE
    ) -> builtins.list[tuple[WorkflowExecution, Execution]]:
        """Open workflows whose execution's status is not the workflow's (a crash between the
        commit of a step and the status change that follows it), untouched for ``older_than``."""
        return await self._with_executions(
            "w.closed_at IS NULL AND w.updated < now() - $1::interval AND w.status <> x.status",
            older_than,
            limit,
        )

    async def past_deadline(
        self, *, limit: int = MAX_PAGE
    ) -> builtins.list[tuple[WorkflowExecution, Execution]]:
        """Open, unfinished workflows whose deadline has passed."""
        return await self._with_executions(
            "w.closed_at IS NULL AND w.deadline < now() AND w.status <> ALL($1::text[])", _TERMINAL, limit
        )

    async def unstarted(self, older_than: timedelta, *, limit: int = MAX_PAGE) -> builtins.list[Execution]:
        """``running`` executions of workflow actions whose workflow never started (the replica
        starting it failed or stopped), untouched for ``older_than``."""
        records = await self.db.fetch(
            f"SELECT {ExecutionRepository.select_list} FROM execution WHERE status = 'running' "
            "AND workflow_def IS NULL AND updated < now() - $1::interval "
            "AND action_ref IN (SELECT ref FROM action WHERE runner_type = $2) ORDER BY updated LIMIT $3",
            older_than,
            WORKFLOW_RUNNER_TYPE,
            min(limit, MAX_PAGE),
        )
        return _executions(records)

    async def _with_executions(
        self, where: str, arg: Any, limit: int, *, lock: bool = False
    ) -> builtins.list[tuple[WorkflowExecution, Execution]]:
        w_cols = ", ".join(f"w.{c} AS w_{c}" for c in self.columns)
        records = await self.db.fetch(
            f"SELECT {w_cols}, {_X_COLUMNS} FROM workflow_execution w "
            "JOIN execution x ON x.id = w.execution AND x.created = w.execution_created "
            f"WHERE {where} ORDER BY w.updated LIMIT $2{' FOR UPDATE OF w' if lock else ''}",
            arg,
            min(limit, MAX_PAGE),
        )
        return [
            (
                self._row({c: r[f"w_{c}"] for c in self.columns}),
                Execution.model_validate({c: r[c] for c in ExecutionRepository.columns}),
            )
            for r in records
        ]


class WorkflowTaskDispatchRepository(Repository[WorkflowTaskDispatch]):
    table = "workflow_task_dispatch"

    async def create_children(
        self, workflow_execution: int, children: Sequence[tuple[str, NewExecution]]
    ) -> builtins.list[Execution]:
        """Create the child executions of ``(dispatch_key, new)`` pairs and their dispatch rows, in
        one statement; the children in the order given. A key dispatched before is a primary-key
        violation (the caller's transaction, and the state it was saving, roll back)."""
        if not children:
            return []
        sql, args = insert_many([new for _, new in children], first=3)
        records = await self.db.fetch(
            f"WITH x AS ({sql}), "
            "d AS (INSERT INTO workflow_task_dispatch (workflow_execution, dispatch_key, execution, execution_created) "
            "SELECT $1, k.key, x.id, x.created "
            "FROM (SELECT id, created, row_number() OVER (ORDER BY id) AS n FROM x) AS x "
            "JOIN unnest($2::text[]) WITH ORDINALITY AS k(key, n) ON k.n = x.n) "
            f"SELECT {ExecutionRepository.select_list} FROM x ORDER BY id",
            workflow_execution,
            [key for key, _ in children],
            *args,
        )
        return _executions(records)

    async def of_children(
        self, workflow_execution: int, executions: Collection[int]
    ) -> dict[int, WorkflowTaskDispatch]:
        """Dispatch rows by child execution id."""
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM workflow_task_dispatch "
            "WHERE workflow_execution = $1 AND execution = ANY($2::bigint[])",
            workflow_execution,
            list(executions),
        )
        return {r["execution"]: self._row(r) for r in records}

    async def results(self, workflow_execution: int, keys: Collection[str]) -> dict[str, Any]:
        """The results of the children of these dispatch keys (missing children give ``None``)."""
        records = await self.db.fetch(
            "SELECT d.dispatch_key, x.result FROM workflow_task_dispatch d "
            "LEFT JOIN execution x ON x.id = d.execution AND x.created = d.execution_created "
            "WHERE d.workflow_execution = $1 AND d.dispatch_key = ANY($2::text[])",
            workflow_execution,
            list(keys),
        )
        found = {r["dispatch_key"]: r["result"] for r in records}
        return {key: found.get(key) for key in keys}

    async def children(self, workflow_execution: int, keys: Collection[str]) -> builtins.list[Execution]:
        """The child executions of these dispatch keys."""
        records = await self.db.fetch(
            f"SELECT {_X_COLUMNS} FROM {_DISPATCHED} "
            "WHERE d.workflow_execution = $1 AND d.dispatch_key = ANY($2::text[]) ORDER BY x.id",
            workflow_execution,
            list(keys),
        )
        return _executions(records)

    async def open_children(self, workflow_execution: int) -> builtins.list[Execution]:
        """The children whose end the conductor has not been given yet (what a cancel, pause or
        resume may cascade to)."""
        records = await self.db.fetch(
            f"SELECT {_X_COLUMNS} FROM {_DISPATCHED} "
            f"WHERE d.workflow_execution = $1 AND {_OPEN_DISPATCH} ORDER BY x.id",
            workflow_execution,
        )
        return _executions(records)

    async def follow_retry(self, old: Execution, new: Execution) -> None:
        """The executor retried a child: its dispatch now points at the retry."""
        await self.db.execute(
            "UPDATE workflow_task_dispatch SET execution = $3, execution_created = $4 "
            "WHERE execution = $1 AND execution_created = $2",
            old.id,
            old.created,
            new.id,
            new.created,
        )

    async def unreported(self, older_than: timedelta, *, limit: int = MAX_PAGE) -> builtins.list[Execution]:
        """Children of open workflows whose status the conductor has not been given (the replica that
        ended them stopped before advancing the workflow, or they were cancelled before they ran),
        untouched for ``older_than``."""
        records = await self.db.fetch(
            f"SELECT {_X_COLUMNS} FROM {_DISPATCHED} "
            "JOIN workflow_execution w ON w.id = d.workflow_execution AND w.closed_at IS NULL "
            f"WHERE {_OPEN_DISPATCH} AND x.status = ANY($1::text[]) AND x.status IS DISTINCT FROM d.reported "
            "AND x.updated < now() - $2::interval ORDER BY x.updated LIMIT $3",
            sorted(REPORTED_STATUSES),
            older_than,
            min(limit, MAX_PAGE),
        )
        return _executions(records)
