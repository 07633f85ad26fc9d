"""Workflows under load and faults: a large fan-out, and a replica SIGKILLed mid-workflow."""

from __future__ import annotations

from collections import Counter, defaultdict

import asyncpg
import pytest

from attune_shared.bus import Bus
from attune_shared.models import Execution
from attune_shared.repos import ExecutionHistoryRepository, ExecutionRepository, WorkerRepository
from attune_shared.statuses import ExecutionStatus

from ..executor.conftest import StartExecutor
from ..executor.helpers import wait_for
from .stack import finished, max_overlap, run

S = ExecutionStatus
pytestmark = pytest.mark.slow


async def test_with_items_over_1000_items_runs_at_most_20_at_a_time(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor
) -> None:
    await start_executor(CONCURRENCY="32")  # more run slots than the workflow may use
    x = await run(db_pool, bus, "wftest.fanout", count=1000, concurrency=20)
    done = await finished(db_pool, x, timeout=180)
    assert (done.status, done.result) == (S.COMPLETED, {"output": {"items": 1000, "last": "item 999"}})
    children = await ExecutionRepository(db_pool).children([x.id])
    assert sorted(c.task_item for c in children) == list(range(1000))  # type: ignore[type-var]
    assert {c.status for c in children} == {S.COMPLETED}
    peak = max_overlap(children)
    assert 1 < peak <= 20, peak


async def test_sigkill_of_a_replica_in_the_middle_of_a_50_task_workflow(
    db_pool: asyncpg.Pool, bus: Bus, wftest: None, start_executor: StartExecutor
) -> None:
    """Each of the 50 tasks is dispatched once and completes once. The replica is killed while it
    runs children: such a child is abandoned with its executor (its in-process action died with
    it), the executor retries it (the action's max_retries: 1) and the retry is the task's one
    completed run; the workflow itself, which no process holds, goes on from the database."""
    victim = await start_executor("ex-victim", CONCURRENCY="8")
    await start_executor("ex-survivor", CONCURRENCY="8")
    x = await run(db_pool, bus, "wftest.chain")
    workers = {w.name: w.id for w in await WorkerRepository(db_pool).list_workers()}

    async def victim_busy() -> bool:
        children = await ExecutionRepository(db_pool).children([x.id])
        done = sum(1 for c in children if c.status is S.COMPLETED)
        return done >= 10 and any(
            c.status is S.RUNNING and c.worker == workers["ex-victim"] for c in children
        )

    await wait_for(victim_busy, 30, "the victim to run children of the workflow")
    await victim.kill()
    done = await finished(db_pool, x, timeout=90)
    assert (done.status, done.result) == (S.COMPLETED, {"output": {"ended": True}})

    children = await ExecutionRepository(db_pool).children([x.id])
    by_task: dict[str | None, list[Execution]] = defaultdict(list)
    for c in children:
        by_task[c.task_name].append(c)
    tasks = {f"lane{lane}_step{step}" for lane in range(1, 6) for step in range(1, 11)}
    assert set(by_task) == tasks
    for task, runs in by_task.items():
        completed = [c for c in runs if c.status is S.COMPLETED]
        assert len(completed) == 1, (task, runs)  # completed once
        first, *retries = sorted(runs, key=lambda c: c.id)
        if retries:  # its first run died with the victim, and was retried once
            assert first.status is S.ABANDONED and first.worker == workers["ex-victim"], (task, runs)
            assert [r.original_execution for r in retries] == [first.id] and retries[0].status is S.COMPLETED
    abandoned = [c for c in children if c.status is S.ABANDONED]
    assert abandoned, "the victim was killed while it ran children"
    assert Counter(c.worker for c in children if c.status is S.COMPLETED).keys() == set(workers.values())
    # one dispatch per task, pointing at its completed execution
    rows = await db_pool.fetch(
        "SELECT d.dispatch_key, d.execution FROM workflow_task_dispatch d "
        "JOIN workflow_execution w ON w.id = d.workflow_execution WHERE w.execution = $1",
        x.id,
    )
    assert len(rows) == 50 and len({r["dispatch_key"] for r in rows}) == 50
    completed_ids = {c.id for c in children if c.status is S.COMPLETED}
    assert {r["execution"] for r in rows} == completed_ids
    for c in children:  # no execution ran twice
        history = await ExecutionHistoryRepository(db_pool).for_entity(c.id)
        assert sum(1 for h in history if h.new_values.get("status") == "running") == 1
