from datetime import UTC, datetime
from typing import Any

import asyncpg

from attune_shared.models import HistoryEntry
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


def _changes(history: list[HistoryEntry]) -> list[tuple[str, list[str], dict[str, Any], dict[str, Any]]]:
    """Oldest first, without ids and timestamps."""
    return [(h.operation, h.changed_fields, h.old_values, h.new_values) for h in reversed(history)]


async def test_history_of_many_executions_changed_in_one_statement(db_pool: asyncpg.Pool) -> None:
    """The history triggers run once per statement (0020): every row of a multi-row insert or
    update gets its own history, in order, paired with its own old values."""
    async with db_pool.acquire() as conn:
        await conn.execute("SET TimeZone = 'UTC'")  # the triggers write timestamps in the session's zone
        # the first statement on a connection is a one-row update: the plan then cached must still
        # pair the old and new images of many rows. It is requested -> running outside
        # execution_start, on a session that never set attune.start: one row, not a start's three.
        one = await make_execution(conn, action_ref="demo.one")
        await conn.execute("UPDATE execution SET status = 'running' WHERE id = $1", one.id)
        started = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)  # no trailing zero to drop
        rows = await conn.fetch(
            "INSERT INTO execution (action_ref, status, worker, started_at, enforcement) "
            "SELECT 'demo.many', s, w, t, e FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], "
            "$4::bigint[]) AS u(s, w, t, e) RETURNING id",
            ["requested", "running", "requested", "scheduled"],
            [None, 7, None, 8],
            [None, started, None, None],
            [11, 12, 13, 14],
        )
        a, b, c, d = ids = [r["id"] for r in rows]
        await conn.execute(
            "UPDATE execution SET "
            "status = CASE id WHEN $1 THEN 'scheduling' WHEN $2 THEN 'completed' ELSE status END, "
            "result = CASE id WHEN $2 THEN $6::jsonb ELSE result END, "
            "run_after = CASE id WHEN $3 THEN $5::timestamptz ELSE run_after END, "
            "trace_tag = 'touched' "
            "WHERE id IN ($1, $2, $3, $4)",
            *ids,
            started,
            {"stdout": "ok"},
        )
    repo = ExecutionHistoryRepository(db_pool)
    assert _changes(await repo.for_entity(one.id)) == [
        ("INSERT", ["status"], {}, {"status": "requested", "action_ref": "demo.one"}),
        ("UPDATE", ["status"], {"status": "requested"}, {"status": "running"}),
    ]
    assert _changes(await repo.for_entity(a)) == [
        ("INSERT", ["status"], {}, {"status": "requested", "action_ref": "demo.many", "enforcement": 11}),
        ("UPDATE", ["status"], {"status": "requested"}, {"status": "scheduling"}),
    ]
    # inserted running: recorded as a creation and a start, then its end
    assert _changes(await repo.for_entity(b)) == [
        ("INSERT", ["status"], {}, {"status": "requested", "action_ref": "demo.many", "enforcement": 12}),
        ("UPDATE", ["status"], {"status": "requested"}, {"status": "scheduling"}),
        ("UPDATE", ["status", "worker"], {"status": "scheduling", "worker": None}, {"status": "scheduled", "worker": 7}),
        ("UPDATE", ["status", "started_at"], {"status": "scheduled", "started_at": None},
         {"status": "running", "started_at": "2026-01-02T03:04:05.123456+00:00"}),
        ("UPDATE", ["status", "result"], {"status": "running", "result": None},
         {"status": "completed", "result": {"stdout": "ok"}}),
    ]  # fmt: skip
    assert _changes(await repo.for_entity(c)) == [
        ("INSERT", ["status"], {}, {"status": "requested", "action_ref": "demo.many", "enforcement": 13}),
        ("UPDATE", ["run_after"], {"run_after": None}, {"run_after": "2026-01-02T03:04:05.123456+00:00"}),
    ]
    # its update changed nothing tracked: no row
    assert _changes(await repo.for_entity(d)) == [
        (
            "INSERT",
            ["status"],
            {},
            {"status": "scheduled", "action_ref": "demo.many", "enforcement": 14, "worker": 8},
        ),
    ]
