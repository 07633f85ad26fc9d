"""The workflow tables' SQL (migration 0012) on a real TimescaleDB, where `execution` is a
hypertable: definitions, workflow executions and their locks, dispatch rows, the reconciler's
queries, children created in one statement. Every test reads back only its own rows (the tier
shares one connection)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from attune_shared.models import Execution
from attune_shared.repos import (
    ExecutionRepository,
    NewExecution,
    WorkerRepository,
    WorkflowDefinitionRepository,
    WorkflowExecutionRepository,
    WorkflowTaskDispatchRepository,
)
from attune_shared.statuses import ExecutionStatus

from ..shared.factories import make_action, make_pack, set_status
from .test_repositories import backdate, new_tag, rolled_back

pytestmark = pytest.mark.timescale

S = ExecutionStatus
OLD = timedelta(minutes=1)


async def _workflow(db: asyncpg.Connection, tag: str) -> tuple[int, Execution]:
    """A definition, a running workflow execution and its workflow row."""
    pack = await make_pack(db, f"w{tag}")
    action = await make_action(
        db, f"{pack.ref}.flow", runner_type="orquesta", entry_point="workflows/flow.yaml"
    )
    definition, outcome = await WorkflowDefinitionRepository(db).upsert(
        {
            "ref": action.ref,
            "pack": pack.id,
            "pack_ref": pack.ref,
            "action": action.id,
            "entry_point": action.entry_point,
            "source": "version: 1.0\n",
            "definition": {"version": 1.0, "tasks": {}},
            "errors": [],
            "digest": tag,
        }
    )
    assert outcome == "created"
    repo = ExecutionRepository(db)
    x = await repo.create(NewExecution(action_ref=action.ref, action=action.id, status=S.RUNNING))
    workflows = WorkflowExecutionRepository(db)
    id = await workflows.reserve_id()
    values = {
        "id": id,
        "execution": x.id,
        "execution_created": x.created,
        "workflow_def": definition.id,
        "definition": definition.definition,
        "digest": definition.digest,
        "status": S.RUNNING,
        "state": {"status": "running"},
        "result": None,
        "deadline": None,
    }
    created = await workflows.create(values)
    assert created is not None and created.id == id
    assert await workflows.create({**values, "id": await workflows.reserve_id()}) is None  # one per execution
    await db.execute(
        "UPDATE execution SET workflow_def = $3 WHERE id = $1 AND created = $2",
        x.id,
        x.created,
        definition.id,
    )
    return id, x.model_copy(update={"workflow_def": definition.id})


async def test_definitions_and_the_workflow_of_an_execution(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    async with rolled_back(db):
        id, x = await _workflow(db, tag)
        definitions = WorkflowDefinitionRepository(db)
        [definition] = await definitions.owned_by_pack(f"w{tag}")
        assert definition.definition == {"version": 1.0, "tasks": {}} and definition.errors == []
        _, outcome = await definitions.upsert(
            {**definition.model_dump(exclude={"id", "created", "updated"}), "definition": None}
        )
        assert outcome == "updated"
        workflows = WorkflowExecutionRepository(db)
        async with db.transaction():
            locked = await workflows.lock(x.id)
            assert locked is not None
            workflow, execution = locked
            assert (workflow.id, execution.id, execution.workflow_def) == (id, x.id, definition.id)
            await workflows.save(id, S.PAUSED, {"status": "paused"}, None)
        assert await workflows.lock(x.id + 10**9) is None
        async with db.transaction():
            row = await workflows.lock_execution(x.id, x.created)
            assert row is not None and row.status is S.RUNNING
        found = (await workflows.of_executions([x.id]))[x.id]
        assert (found.status, found.state, found.closed_at) == (S.PAUSED, {"status": "paused"}, None)
        # the execution does not show its workflow's status: out of step, once untouched for a while
        await db.execute("SET LOCAL session_replication_role = replica")
        await db.execute(
            "UPDATE workflow_execution SET updated = now() - interval '1 hour' WHERE id = $1", id
        )
        await db.execute("SET LOCAL session_replication_role = origin")
        assert [(w.id, e.id) for w, e in await workflows.out_of_step(OLD) if w.id == id] == [(id, x.id)]
        await workflows.close(id)
        assert [w for w, _ in await workflows.out_of_step(OLD) if w.id == id] == []
        # a deadline
        await db.execute(
            "UPDATE workflow_execution SET deadline = now() - interval '1 s', closed_at = NULL WHERE id = $1",
            id,
        )
        assert [w.id for w, _ in await workflows.past_deadline() if w.id == id] == [id]
        # an orquesta execution without a workflow, untouched: never started
        other = await ExecutionRepository(db).create(NewExecution(action_ref=x.action_ref, status=S.RUNNING))
        await backdate(db, other, timedelta(hours=1))
        assert [u.id for u in await workflows.unstarted(OLD) if u.action_ref == x.action_ref] == [other.id]
        # a started workflow is nobody's orphan: its worker may die
        dead = await WorkerRepository(db).register(name=f"dead-{tag}", host="h", pid=1, concurrency=1)
        await db.execute("UPDATE execution SET worker = $2 WHERE id = $1", x.id, dead.id)
        await db.execute("UPDATE execution SET worker = $2 WHERE id = $1", other.id, dead.id)
        await db.execute("UPDATE worker SET status = 'inactive' WHERE id = $1", dead.id)
        orphans = await ExecutionRepository(db).without_live_worker([S.RUNNING], OLD)
        assert {o.id for o in orphans} & {x.id, other.id} == {other.id}
        assert [o.id for o in await ExecutionRepository(db).of_worker(dead.id, [S.RUNNING])] == [other.id]


async def test_children_and_their_dispatch_rows(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    async with rolled_back(db):
        id, x = await _workflow(db, tag)
        repo = ExecutionRepository(db)
        dispatch = WorkflowTaskDispatchRepository(db)
        keys = ["a.r0.e0.a0", "b.r0.e1.i0.a0", "b.r0.e1.i1.a0"]
        new = [
            NewExecution(action_ref=f"w{tag}.step", parent=x.id, task_name="a", config={"n": 1}),
            NewExecution(action_ref=f"w{tag}.step", parent=x.id, task_name="b", task_item=0, secrets="c1"),
            NewExecution(action_ref=f"w{tag}.step", parent=x.id, task_name="b", task_item=1),
        ]
        children = await dispatch.create_children(id, list(zip(keys, new, strict=True)))
        assert [(c.task_name, c.task_item, c.parent) for c in children] == [
            ("a", None, x.id),
            ("b", 0, x.id),
            ("b", 1, x.id),
        ]
        assert children[0].config == {"n": 1} and children[1].secrets == "c1"
        assert [c.id for c in await repo.children_of(x.id)] == [c.id for c in children]
        assert [c.id for c in await repo.children_of(x.id, after_id=children[0].id, limit=1)] == [
            children[1].id
        ]
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.transaction():
                await dispatch.create_children(id, [(keys[0], new[0])])  # a key is dispatched once
        rows = await dispatch.of_children(id, [c.id for c in children])
        assert {c: r.dispatch_key for c, r in rows.items()} == dict(
            zip([c.id for c in children], keys, strict=True)
        )
        assert [c.id for c in await dispatch.open_children(id)] == [c.id for c in children]

        a, b0, b1 = children
        await set_status(repo, a.id, a.created, S.REQUESTED, S.COMPLETED, result={"stdout": "A"})
        await backdate(db, a, timedelta(hours=1))
        assert [c.id for c in await dispatch.unreported(OLD) if c.parent == x.id] == [a.id]
        assert await dispatch.results(id, [keys[0], keys[1], "nope.r0.e9.a0"]) == {
            keys[0]: {"stdout": "A"},
            keys[1]: None,
            "nope.r0.e9.a0": None,
        }
        await WorkflowExecutionRepository(db).save(id, S.RUNNING, {}, None, {keys[0]: S.COMPLETED})
        assert [c.id for c in await dispatch.unreported(OLD) if c.parent == x.id] == []
        assert [c.id for c in await dispatch.open_children(id)] == [b0.id, b1.id]
        assert [c.id for c in await dispatch.children(id, [keys[2], keys[0]])] == [a.id, b1.id]

        # the executor retried b1: its dispatch follows the retry
        [retry] = await repo.create_many(
            [NewExecution(action_ref=b1.action_ref, parent=x.id, original_execution=b1.id)]
        )
        await dispatch.follow_retry(b1, retry)
        assert (await dispatch.of_children(id, [retry.id]))[retry.id].dispatch_key == keys[2]
        assert await dispatch.of_children(id, [b1.id]) == {}


async def test_workflow_statuses_are_allowed(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    async with rolled_back(db):
        repo = ExecutionRepository(db)
        x = await repo.create(NewExecution(action_ref="w.any", status=S.RUNNING))
        for old, new in (
            (S.RUNNING, S.PAUSING),
            (S.PAUSING, S.PAUSED),
            (S.PAUSED, S.RESUMING),
            (S.RESUMING, S.PENDING),
        ):
            assert await set_status(repo, x.id, x.created, old, new)
        with pytest.raises(asyncpg.CheckViolationError):
            async with db.transaction():
                await db.execute("UPDATE execution SET status = 'sleeping' WHERE id = $1", x.id)
