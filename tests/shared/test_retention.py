import asyncpg

from attune_shared.repos import WorkflowExecutionRepository
from attune_shared.retention import purge_expired
from attune_shared.settings import RetentionSettings

from .factories import make_event, make_execution


async def test_purge_expired_deletes_only_old_rows_in_batches(db_pool: asyncpg.Pool) -> None:
    old = [await make_event(db_pool) for _ in range(7)]
    fresh = await make_event(db_pool)
    await db_pool.execute(
        "UPDATE event SET created = created - interval '91 days' WHERE id = ANY($1)", [e.id for e in old]
    )
    x = await make_execution(db_pool)
    await db_pool.execute("UPDATE execution_history SET created = created - interval '100 days'")

    deleted = await purge_expired(db_pool, RetentionSettings(batch_size=3))
    assert deleted is not None
    assert deleted["event"] == 7 and deleted["execution_history"] == 1 and deleted["execution"] == 0
    assert await db_pool.fetchval("SELECT array_agg(id) FROM event") == [fresh.id]
    assert await db_pool.fetchval("SELECT count(*) FROM execution WHERE id = $1", x.id) == 1


async def test_purge_deletes_the_workflows_of_expired_executions(db_pool: asyncpg.Pool) -> None:
    workflows = WorkflowExecutionRepository(db_pool)
    ids = []
    for age in (91, 1):
        x = await make_execution(db_pool)
        id = await workflows.reserve_id()
        values = {"definition": {}, "digest": "d", "status": "completed", "state": {}, "result": None}
        await workflows.create({"id": id, "execution": x.id, "execution_created": x.created, **values})
        await db_pool.execute(
            "UPDATE workflow_execution SET execution_created = now() - make_interval(days => $2) WHERE id = $1",
            id,
            age,
        )
        ids.append(id)
    deleted = await purge_expired(db_pool, RetentionSettings())
    assert deleted is not None and deleted["workflow_execution"] == 1
    assert await db_pool.fetchval("SELECT array_agg(id) FROM workflow_execution") == [ids[1]]


async def test_purge_skips_while_another_replica_holds_the_lock(db_pool: asyncpg.Pool) -> None:
    from attune_shared.constants import RETENTION_LOCK_KEY

    async with db_pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", RETENTION_LOCK_KEY)
        assert await purge_expired(db_pool, RetentionSettings()) is None
        await holder.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_KEY)
    assert await purge_expired(db_pool, RetentionSettings()) is not None
