"""The engine's repairs (what the maintenance leader runs), driven in-process: a workflow whose
execution missed its decision, an execution ended behind its workflow's back, a workflow that never
started. No executor runs here: the children stay `requested`."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from attune_shared.bus import Bus
from attune_shared.models import Execution
from attune_shared.repos import (
    ActionRepository,
    ExecutionRepository,
    NewExecution,
    WorkflowExecutionRepository,
)
from attune_shared.statuses import ExecutionStatus
from attune_shared.workflows.engine import WorkflowEngine

from ..shared.factories import set_status

S = ExecutionStatus
NOW = timedelta(0)


async def _running(db: asyncpg.Pool, ref: str, **config: object) -> Execution:
    action = await ActionRepository(db).get_by_ref(ref)
    assert action is not None
    return await ExecutionRepository(db).create(
        NewExecution(action_ref=ref, action=action.id, config=dict(config), status=S.RUNNING)
    )


async def _started(db: asyncpg.Pool, engine: WorkflowEngine, ref: str, **config: object) -> Execution:
    x = await _running(db, ref, **config)
    action = await ActionRepository(db).get_by_ref(ref)
    assert action is not None
    await engine.start(x, action)
    row = await ExecutionRepository(db).get(x.id, x.created)
    assert row is not None and row.workflow_def is not None
    return row


async def _age(db: asyncpg.Pool) -> None:
    """Everything looks untouched for an hour (the repairs only touch what is)."""
    await db.execute("UPDATE workflow_execution SET updated = updated - interval '1 hour'")


async def test_the_execution_follows_its_workflows_decision(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, engine: WorkflowEngine
) -> None:
    paused = await _started(db_pool, engine, "wftest.pausable", seconds=30)
    done = await _started(db_pool, engine, "wftest.pausable", seconds=30)
    # decisions committed, the execution's status not followed (a crash after the commit)
    await db_pool.execute("UPDATE workflow_execution SET status = 'paused' WHERE execution = $1", paused.id)
    result = {"output": {"said": "late"}}
    await db_pool.execute(
        "UPDATE workflow_execution SET status = 'completed', result = $2 WHERE execution = $1",
        done.id,
        result,
    )
    await _age(db_pool)
    repaired = await engine.reconcile(NOW)
    assert repaired["out_of_step"] == 2
    rows = await ExecutionRepository(db_pool).get_many([paused.id, done.id])
    assert rows[paused.id].status is S.PAUSED
    assert (rows[done.id].status, rows[done.id].result) == (S.COMPLETED, result)
    workflows = await WorkflowExecutionRepository(db_pool).of_executions([paused.id, done.id])
    assert workflows[done.id].closed_at is not None and workflows[paused.id].closed_at is None
    assert (await engine.reconcile(NOW))["out_of_step"] == 0


async def test_an_execution_ended_behind_its_workflows_back_stops_the_workflow(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, engine: WorkflowEngine
) -> None:
    x = await _started(db_pool, engine, "wftest.pausable", seconds=30)
    [slow] = await ExecutionRepository(db_pool).children([x.id])
    assert slow.status is S.REQUESTED
    assert await set_status(ExecutionRepository(db_pool), x.id, x.created, S.RUNNING, S.CANCELLED)
    await _age(db_pool)
    assert (await engine.reconcile(NOW))["out_of_step"] == 1
    workflow = (await WorkflowExecutionRepository(db_pool).of_executions([x.id]))[x.id]
    assert workflow.status is S.CANCELLED and workflow.closed_at is not None
    assert (await ExecutionRepository(db_pool).get(slow.id, slow.created)).status is S.CANCELLED  # type: ignore[union-attr]


async def test_a_workflow_that_never_started_is_started(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, engine: WorkflowEngine
) -> None:
    x = await _running(db_pool, "wftest.sequential", who="later")
    await db_pool.execute("UPDATE execution SET updated = updated - interval '1 hour' WHERE id = $1", x.id)
    assert (await engine.reconcile(NOW))["unstarted"] == 1
    row = await ExecutionRepository(db_pool).get(x.id, x.created)
    assert row is not None and row.workflow_def is not None
    assert [c.task_name for c in await ExecutionRepository(db_pool).children([x.id])] == ["greet"]
    action = await ActionRepository(db_pool).get_by_ref("wftest.sequential")
    assert action is not None
    await engine.start(row, action)  # started once: a second start changes nothing
    assert len(await ExecutionRepository(db_pool).children([x.id])) == 1
