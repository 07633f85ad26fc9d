import asyncpg

from attune_shared.repos import (
    ExecutionHistoryRepository,
    ExecutionRepository,
    WorkerHistoryRepository,
    WorkerRepository,
)
from attune_shared.statuses import ExecutionStatus as S
from attune_shared.statuses import WorkerStatus

from .factories import make_execution, now, set_status


async def test_execution_history_records_only_changed_fields(db_pool: asyncpg.Pool) -> None:
    x = await make_execution(db_pool, config={"cmd": "true"})
    repo = ExecutionRepository(db_pool)
    assert await set_status(repo, x.id, x.created, S.REQUESTED, S.SCHEDULING)
    assert await set_status(repo, x.id, x.created, S.SCHEDULING, S.SCHEDULED, worker=3)
    started = now()
    assert await set_status(repo, x.id, x.created, S.SCHEDULED, S.RUNNING, started_at=started)
    assert await set_status(
        repo, x.id, x.created, S.RUNNING, S.COMPLETED, result={"succeeded": True, "exit_code": 0}
    )
    # an update that changes nothing tracked writes nothing
    await db_pool.execute("UPDATE execution SET config = config WHERE id = $1", x.id)

    history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
    assert [h.operation for h in history] == ["UPDATE"] * 4 + ["INSERT"]  # newest first
    inserted = history[-1]
    assert inserted.new_values["status"] == "requested" and inserted.entity_ref == "demo.run"
    assert [h.changed_fields for h in reversed(history[:-1])] == [
        ["status"],
        ["status", "worker"],
        ["status", "started_at"],
        ["status", "result"],
    ]
    scheduled = history[2]
    assert scheduled.old_values == {"status": "scheduling", "worker": None}
    assert scheduled.new_values == {"status": "scheduled", "worker": 3}
    assert history[0].new_values["result"] == {"succeeded": True, "exit_code": 0}


async def test_large_results_are_summarized_in_history(db_pool: asyncpg.Pool) -> None:
    x = await make_execution(db_pool)
    big = {"stdout": "x" * 100_000}
    assert await set_status(ExecutionRepository(db_pool), x.id, x.created, S.REQUESTED, S.FAILED, result=big)
    [latest, _] = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
    summary = latest.new_values["result"]
    assert summary["summarized"] is True and summary["type"] == "object"
    assert summary["size"] > 100_000 and summary["digest"].startswith("md5:")
    assert "stdout" not in summary


async def test_worker_heartbeat_writes_no_history(db_pool: asyncpg.Pool) -> None:
    repo = WorkerRepository(db_pool)
    worker = await repo.register(name="w1", host="h", pid=1, concurrency=2)
    for _ in range(5):
        assert await repo.heartbeat(worker.id)
    assert await repo.set_status(worker.id, WorkerStatus.INACTIVE)
    history = await WorkerHistoryRepository(db_pool).for_entity(worker.id)
    assert [h.operation for h in history] == ["UPDATE", "INSERT"]
    assert history[0].changed_fields == ["status"]
    assert history[0].old_values == {"status": "active"} and history[0].new_values == {"status": "inactive"}


async def test_rollup_views_have_the_aggregate_columns(db_pool: asyncpg.Pool) -> None:
    x = await make_execution(db_pool, action_ref="demo.a")
    await set_status(ExecutionRepository(db_pool), x.id, x.created, S.REQUESTED, S.FAILED, result={})
    rows = await db_pool.fetch(
        "SELECT bucket, action_ref, new_status, transition_count FROM execution_status_hourly ORDER BY new_status"
    )
    assert [(r["action_ref"], r["new_status"], r["transition_count"]) for r in rows] == [
        ("demo.a", "failed", 1),
        ("demo.a", "requested", 1),
    ]
    assert await db_pool.fetchval("SELECT sum(execution_count) FROM execution_throughput_hourly") == 1
    assert (
        await db_pool.fetchval("SELECT execution_count FROM execution_volume_hourly WHERE status = 'failed'")
        == 1
    )
    for view in ("event_volume_hourly", "enforcement_volume_hourly", "worker_status_hourly"):
        await db_pool.fetch(f"SELECT bucket FROM {view}")
