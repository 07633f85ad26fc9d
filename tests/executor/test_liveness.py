"""Workers, shutdown, and what the maintenance loop repairs: dead workers, unstarted executions,
lost messages, and leftovers of a crashed replica."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from attune_shared.bus import Bus
from attune_shared.models import Action, Execution
from attune_shared.repos import (
    ActionRepository,
    EnforcementRepository,
    ExecutionRepository,
    NewEnforcement,
    NewExecution,
    WorkerHistoryRepository,
    WorkerRepository,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus, WorkerStatus

from ..shared.factories import make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import executions_of, finished, request, status_of, store_events, wait_for

S = ExecutionStatus


async def _owned(db: asyncpg.Pool, status: ExecutionStatus, worker: int) -> Execution:
    """An execution in ``status`` that ``worker`` owns (as if it had claimed it)."""
    x = await ExecutionRepository(db).create(NewExecution(action_ref="core.noop", status=status))
    await db.execute("UPDATE execution SET worker = $1 WHERE id = $2", worker, x.id)
    return x


async def _is(db: asyncpg.Pool, x: Execution, status: ExecutionStatus) -> bool:
    return (await status_of(db, x)).status is status


async def test_worker_registers_heartbeats_and_stops_gracefully(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    proc = await start_executor("ex-graceful")
    worker = await WorkerRepository(db_pool).get_by_ref("ex-graceful")
    assert worker is not None and worker.status is WorkerStatus.ACTIVE and worker.pid == proc.pid
    assert worker.capabilities["runners"] == ["builtin", "shell", "python", "http"]
    first_beat = worker.last_heartbeat

    async def beaten() -> bool:
        row = await WorkerRepository(db_pool).get_by_ref("ex-graceful")
        return row is not None and row.last_heartbeat > first_beat

    await wait_for(beaten, 5, "a heartbeat")
    x = await request(db_pool, bus, "core.sleep", {"seconds": 1})
    await wait_for(lambda: _is(db_pool, x, S.RUNNING), 10, "the sleep to run")
    assert await proc.terminate(timeout=15) == 0
    assert (await status_of(db_pool, x)).status is S.COMPLETED  # finished within the grace
    after = await WorkerRepository(db_pool).get_by_ref("ex-graceful")
    assert after is not None and after.status is WorkerStatus.INACTIVE
    history = await WorkerHistoryRepository(db_pool).for_entity(worker.id)
    assert [h.changed_fields for h in reversed(history)] == [
        ["status"],
        ["status"],
    ]  # insert, inactive: no heartbeats
    assert "service.stopped" in proc.output()


async def test_shutdown_past_the_grace_abandons_and_retries(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor, tmp_path: Path
) -> None:
    proc = await start_executor("ex-impatient", SHUTDOWN_GRACE="0.5")
    marker = tmp_path / "attempted"
    x = await request(
        db_pool,
        bus,
        "core.local",
        {"cmd": f"if [ -f {marker} ]; then echo second; exit 0; fi; touch {marker}; sleep 60"},
        max_retries=1,
    )
    await wait_for(lambda: _is(db_pool, x, S.RUNNING), 10, "the action to run")
    assert await proc.terminate(timeout=15) == 0
    first = await status_of(db_pool, x)
    assert first.status is S.ABANDONED and first.result is not None
    assert first.result["abandoned"] is True and "shut down" in first.result["error"]
    await start_executor("ex-next")
    chain = await finished(db_pool, 2, timeout=15)
    assert chain[1].original_execution == x.id and chain[1].status is S.COMPLETED
    assert chain[1].retry_reason == "abandoned" and chain[1].result["stdout"] == "second"  # type: ignore[index]


async def test_executions_of_dead_workers_are_ended(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    dead = await WorkerRepository(db_pool).register(name="ghost", host="gone", pid=1, concurrency=4)
    await db_pool.execute(
        "UPDATE worker SET last_heartbeat = now() - interval '1 hour' WHERE id = $1", dead.id
    )
    running = await _owned(db_pool, S.RUNNING, dead.id)
    canceling = await _owned(db_pool, S.CANCELING, dead.id)
    scheduled = await _owned(db_pool, S.SCHEDULED, dead.id)
    await start_executor()
    done = {x.id: x for x in await finished(db_pool, 3, timeout=15)}
    assert done[running.id].status is S.ABANDONED
    assert done[running.id].result is not None and "ghost stopped" in done[running.id].result["error"]  # type: ignore[index]
    assert done[canceling.id].status is S.CANCELLED
    assert done[scheduled.id].status is S.COMPLETED  # never started: handed back and run by a live executor
    ghost = await WorkerRepository(db_pool).get_by_ref("ghost")
    assert ghost is not None and ghost.status is WorkerStatus.INACTIVE


async def test_scheduled_but_never_started_fails(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await start_executor("ex-live", SCHEDULED_TIMEOUT="1")
    live = await WorkerRepository(db_pool).get_by_ref("ex-live")
    assert live is not None
    x = await _owned(db_pool, S.SCHEDULED, live.id)
    [done] = await finished(db_pool, 1, timeout=10)
    assert done.id == x.id and done.status is S.FAILED
    assert done.result == {"succeeded": False, "error": "not started within scheduled_timeout (1 s)"}


async def test_lost_messages_are_republished(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    # an execution whose wake-up was never published, and one whose scheduler died after claiming it
    noop = await ExecutionRepository(db_pool).create(NewExecution(action_ref="core.noop"))
    stalled = await ExecutionRepository(db_pool).create(
        NewExecution(action_ref="core.echo", config={"message": "x"})
    )
    await db_pool.execute("UPDATE execution SET status = 'scheduling' WHERE id = $1", stalled.id)
    rule = await make_rule(
        db_pool,
        "demo.lost",
        trigger=await make_trigger(db_pool),
        action=(await _action(db_pool, "core.echo")),
        action_params={"message": "m"},
    )
    # an event matched earlier, whose enforcement's message was lost
    [event] = await store_events(db_pool, "demo.alert", [{}])
    [enforcement] = await EnforcementRepository(db_pool).create_many(
        [
            NewEnforcement(
                rule=rule.id,
                rule_ref=rule.ref,
                trigger_ref=rule.trigger_ref,
                event=event.id,
                event_created=event.created,
                config={"message": "m"},
            )
        ]
    )
    await start_executor()
    done = {(x.action_ref, x.enforcement is None): x for x in await finished(db_pool, 3, timeout=15)}
    assert done["core.noop", True].id == noop.id and done["core.noop", True].status is S.COMPLETED
    assert done["core.echo", False].enforcement == enforcement.id
    assert done["core.echo", False].status is S.COMPLETED
    assert done["core.echo", True].id == stalled.id and done["core.echo", True].status is S.COMPLETED
    resolved = await EnforcementRepository(db_pool).get(enforcement.id, enforcement.created)
    assert resolved is not None and resolved.status is EnforcementStatus.PROCESSED


async def _action(db: asyncpg.Pool, ref: str) -> Action | None:
    return await ActionRepository(db).get_by_ref(ref)


async def test_a_replica_restarted_under_its_name_ends_what_it_left(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    proc = await start_executor("ex-phoenix", WORKER_TIMEOUT="600")  # the monitor would wait 10 minutes
    x = await request(db_pool, bus, "core.sleep", {"seconds": 60})
    await wait_for(lambda: _is(db_pool, x, S.RUNNING), 10, "the sleep to run")
    await proc.kill()
    await start_executor("ex-phoenix", WORKER_TIMEOUT="600")
    row = await status_of(db_pool, x)
    assert row.status is S.ABANDONED and row.result is not None
    assert "ex-phoenix restarted" in row.result["error"]
    assert len(await executions_of(db_pool)) == 1


async def test_a_live_replicas_name_is_refused(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """Two replicas under one name would share a worker row; the second one does not start."""
    first = await start_executor("ex-twin")
    before = await WorkerRepository(db_pool).get_by_ref("ex-twin")
    with pytest.raises(RuntimeError, match=r"exited \(1\)") as refused:
        await start_executor("ex-twin")
    assert "executor name 'ex-twin' is in use by a live worker" in str(refused.value)
    assert first.running
    after = await WorkerRepository(db_pool).get_by_ref("ex-twin")
    assert before is not None and after is not None
    assert (after.id, after.pid, after.status) == (before.id, first.pid, WorkerStatus.ACTIVE)
    # and the first one still works
    await request(db_pool, bus, "core.noop", {})
    assert [x.status for x in await finished(db_pool, 1)] == [S.COMPLETED]
