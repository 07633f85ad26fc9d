import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from attune_shared.database_check import table_columns, verify_database, verify_repositories
from attune_shared.errors import SchemaMismatchError
from attune_shared.joins import children_of, events_of, links_of, parents_of
from attune_shared.models import Event, Execution
from attune_shared.repos import (
    ALL_REPOSITORIES,
    Enforced,
    EnforcementRepository,
    EventRepository,
    ExecutionRepository,
    NewEnforcement,
    NewEvent,
    NewExecution,
    PackRepository,
    RuleRepository,
    TriggerRepository,
    WorkerRepository,
)
from attune_shared.repos.catalog import ActionRepository
from attune_shared.statuses import EnforcementStatus, ExecutionStatus

from .factories import make_event, make_execution, make_rule, make_trigger, now, set_status


async def test_every_repository_matches_its_table_and_model(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        for repo in ALL_REPOSITORIES:
            assert list(repo.columns) == list(repo.model.model_fields), repo.__name__
            assert sorted(await table_columns(conn, repo.table)) == sorted(repo.columns), repo.table
        await verify_database(conn)


async def test_unknown_model_field_is_named(db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExecutionRepository, "columns", (*ExecutionRepository.columns, "finished_at"))
    async with db_pool.acquire() as conn:
        with pytest.raises(SchemaMismatchError) as info:
            await verify_repositories(conn)
    assert "model Execution" in str(info.value)
    assert "'finished_at'" in str(info.value)
    assert "attune.execution" in str(info.value)


async def test_unmigrated_database_is_refused(postgres_server_url: str) -> None:
    conn = await asyncpg.connect(postgres_server_url)
    try:
        with pytest.raises(SchemaMismatchError, match="not migrated .* run `attune migrate`"):
            await verify_database(conn)
    finally:
        await conn.close()


async def test_no_foreign_key_targets_a_time_series_table(db_pool: asyncpg.Pool) -> None:
    targets = await db_pool.fetch(
        """SELECT conrelid::regclass::text AS source, confrelid::regclass::text AS target
           FROM pg_constraint WHERE contype = 'f' AND connamespace = 'attune'::regnamespace"""
    )
    hypertables = {"event", "enforcement", "execution", "execution_history", "worker_history"}
    assert targets, "catalog foreign keys exist"
    assert not [t for t in targets if t["target"].removeprefix("attune.") in hypertables]
    assert not [t for t in targets if t["source"].removeprefix("attune.") in hypertables]


async def test_time_series_tables_are_keyed_by_id_and_created(db_pool: asyncpg.Pool) -> None:
    for table in ("event", "enforcement", "execution", "execution_history", "worker_history"):
        key = await db_pool.fetch(
            """SELECT a.attname FROM pg_index i JOIN pg_attribute a
               ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
               WHERE i.indrelid = ('attune.' || $1)::regclass AND i.indisprimary""",
            table,
        )
        assert sorted(r["attname"] for r in key) == ["created", "id"], table


async def test_catalog_upsert_reports_changes(db_pool: asyncpg.Pool) -> None:
    repo = PackRepository(db_pool)
    row, outcome = await repo.upsert({"ref": "demo", "label": "Demo", "version": "1.0.0"})
    assert outcome == "created"
    again, outcome = await repo.upsert({"ref": "demo", "label": "Demo", "version": "1.0.0"})
    assert outcome == "unchanged" and again.updated == row.updated
    changed, outcome = await repo.upsert({"ref": "demo", "label": "Demo 2", "version": "1.0.0"})
    assert outcome == "updated" and changed.label == "Demo 2" and changed.id == row.id
    with pytest.raises(ValueError, match="no such column"):
        await repo.upsert({"ref": "demo", "colour": "red"})


async def test_ref_wildcards(db_pool: asyncpg.Pool) -> None:
    await make_trigger(db_pool, "demo.alert")
    await make_trigger(db_pool, "demo.other")
    await make_trigger(db_pool, "demox.alert")
    repo = TriggerRepository(db_pool)
    assert sorted(t.ref for t in await repo.list(ref="demo.*")) == ["demo.alert", "demo.other"]
    assert [t.ref for t in await repo.list(ref="demo.alert")] == ["demo.alert"]
    assert sorted(t.ref for t in await repo.list(pack="demox")) == ["demox.alert"]


async def test_insert_many_events_dedups_by_message_id(db_pool: asyncpg.Pool) -> None:
    repo = EventRepository(db_pool)
    t = now()
    batch = [
        NewEvent(created=t, trigger_ref="demo.alert", payload={"n": i}, dedup_id=f"m{i}") for i in range(100)
    ]
    inserted = await repo.insert_many(batch)
    assert len(inserted) == 100 and all(e.new for e in inserted)
    # a redelivered message has the same id and stream time: nothing new, the existing row comes back
    extra = NewEvent(created=t, trigger_ref="demo.alert", payload={}, dedup_id="new")
    again = await repo.insert_many([*batch[:10], extra, batch[0]])
    assert [e.new for e in again] == [False] * 10 + [True, False]
    assert [e.id for e in again[:10]] == [e.id for e in inserted[:10]]
    assert again[-1].id == inserted[0].id
    assert await db_pool.fetchval("SELECT count(*) FROM event") == 101
    event = await repo.get(inserted[5].id, inserted[5].created)
    assert event is not None and event.payload == {"n": 5}


def test_events_have_no_update_path() -> None:
    public = {name for name in dir(EventRepository) if not name.startswith("_")}
    assert not {n for n in public if "update" in n or "delete" in n or "upsert" in n}


async def test_enforcement_is_unique_per_rule_and_event(db_pool: asyncpg.Pool) -> None:
    rule = await make_rule(db_pool)
    event = await make_event(db_pool)
    repo = EnforcementRepository(db_pool)
    new = NewEnforcement(
        rule=rule.id,
        rule_ref=rule.ref,
        trigger_ref=event.trigger_ref,
        event=event.id,
        event_created=event.created,
        config={"x": 1},
    )
    first = await repo.create_many([new])
    second = await repo.create_many([new, new])
    assert [e.id for e in second] == [first[0].id, first[0].id]
    assert first[0].created == event.created
    assert await db_pool.fetchval("SELECT count(*) FROM enforcement") == 1
    with pytest.raises(asyncpg.UniqueViolationError):
        await db_pool.execute(
            "INSERT INTO enforcement (rule, rule_ref, trigger_ref, event, created) VALUES ($1, 'a.b', 'a.b', $2, $3)",
            rule.id,
            event.id,
            event.created,
        )


async def test_enforcement_resolves_once(db_pool: asyncpg.Pool) -> None:
    rule = await make_rule(db_pool)
    event = await make_event(db_pool)
    repo = EnforcementRepository(db_pool)
    [enf] = await repo.create_many(
        [NewEnforcement(rule.id, rule.ref, event.trigger_ref, event.id, event.created)]
    )
    assert enf.status is EnforcementStatus.CREATED and enf.resolved_at is None
    results = await asyncio.gather(
        repo.resolve_many([(enf.id, enf.created, EnforcementStatus.PROCESSED, None)]),
        repo.resolve_many([(enf.id, enf.created, EnforcementStatus.DISABLED, "rule disabled")]),
    )
    assert sorted(won for [won] in results) == [False, True]
    resolved = await repo.get(enf.id, enf.created)
    assert resolved is not None and resolved.status is not EnforcementStatus.CREATED
    assert resolved.resolved_at is not None
    assert await repo.pending(timedelta(0)) == []


async def test_one_top_level_execution_per_enforcement(db_pool: asyncpg.Pool) -> None:
    rule = await make_rule(db_pool)
    event = await make_event(db_pool)
    [enf] = await EnforcementRepository(db_pool).create_many(
        [NewEnforcement(rule.id, rule.ref, event.trigger_ref, event.id, event.created)]
    )
    repo = ExecutionRepository(db_pool)
    new = NewExecution(action_ref=rule.action_ref, enforcement=enf.id, created=enf.created, rule_ref=rule.ref)
    results = [
        x
        for batch in await asyncio.gather(*(repo.create_for_enforcements([new]) for _ in range(5)))
        for x in batch
    ]
    assert sum(created for _, created in results) == 1
    assert len({x.id for x, _ in results}) == 1
    # a retry of it is not top-level, so it is allowed
    retry = await repo.create(
        NewExecution(action_ref=rule.action_ref, enforcement=enf.id, original_execution=results[0][0].id)
    )
    assert retry.id != results[0][0].id


async def test_enforcements_are_created_resolved_with_their_executions(db_pool: asyncpg.Pool) -> None:
    """One statement: an enforcement created ``processed`` with its execution (which takes the
    enforcement's columns), another ``disabled`` with its reason; a second call creates nothing."""
    rule = await make_rule(db_pool)
    e1, e2 = await make_event(db_pool), await make_event(db_pool)
    worker = await WorkerRepository(db_pool).register(name="w-enforced", host="h", pid=1, concurrency=2)
    started = now()

    def new(event: Event) -> NewEnforcement:
        return NewEnforcement(
            rule.id,
            rule.ref,
            event.trigger_ref,
            event.id,
            event.created,
            {"x": 1},
            trace_tag="t",
            secrets="s",
        )

    items = [
        Enforced(
            new(e1),
            NewExecution(
                action_ref=rule.action_ref,
                action=7,
                timeout_seconds=30,
                max_retries=2,
                status=ExecutionStatus.RUNNING,
                worker=worker.id,
                started_at=started,
            ),
        ),
        Enforced(new(e2), failure_reason="action demo.run is disabled"),
    ]
    repo = ExecutionRepository(db_pool)
    [processed, disabled] = await repo.create_enforced(items)
    assert processed is not None and disabled is not None
    enf, x = processed
    assert enf.status is EnforcementStatus.PROCESSED and enf.resolved_at is not None
    assert x is not None and (x.enforcement, x.created, x.rule_ref) == (enf.id, e1.created, rule.ref)
    assert (x.config, x.trace_tag, x.secrets, x.trigger_ref) == ({"x": 1}, "t", "s", e1.trigger_ref)
    assert (x.action, x.timeout_seconds, x.max_retries) == (7, 30, 2)
    assert (x.status, x.worker, x.started_at) == (ExecutionStatus.RUNNING, worker.id, started)
    assert disabled[1] is None and disabled[0].status is EnforcementStatus.DISABLED
    assert disabled[0].failure_reason == "action demo.run is disabled" and disabled[0].resolved_at is not None

    assert await repo.create_enforced(items) == [None, None]  # a redelivered event makes nothing
    assert await db_pool.fetchval("SELECT count(*) FROM enforcement") == 2
    assert await db_pool.fetchval("SELECT count(*) FROM execution") == 1
    assert await EnforcementRepository(db_pool).pending(timedelta(0)) == []
    with pytest.raises(ValueError, match="processed .* or disabled"):
        await repo.create_enforced([Enforced(new(e1))])


async def test_compare_and_set_wins_once_when_raced(settings) -> None:
    from attune_shared.db import create_pool

    pool = await create_pool(settings.database, min_size=10, max_size=10)
    try:
        execution = await make_execution(pool)
        repo = ExecutionRepository(pool)
        wins = await asyncio.gather(
            *(
                set_status(
                    repo,
                    execution.id,
                    execution.created,
                    ExecutionStatus.REQUESTED,
                    ExecutionStatus.SCHEDULING,
                )
                for _ in range(20)
            )
        )
        assert wins.count(True) == 1
        assert not await set_status(
            repo, execution.id, execution.created, ExecutionStatus.REQUESTED, ExecutionStatus.CANCELLED
        )
        ok = await set_status(
            repo,
            execution.id,
            execution.created,
            [ExecutionStatus.SCHEDULING, ExecutionStatus.SCHEDULED],
            ExecutionStatus.RUNNING,
            started_at=now(),
            worker=7,
        )
        assert ok
        row = await repo.get(execution.id, execution.created)
        assert row is not None and row.status is ExecutionStatus.RUNNING and row.worker == 7
        assert row.updated > execution.updated
        with pytest.raises(ValueError, match="cannot set"):
            await set_status(
                repo,
                execution.id,
                execution.created,
                ExecutionStatus.RUNNING,
                ExecutionStatus.COMPLETED,
                config={},
            )
    finally:
        await pool.close()


async def test_joins_return_none_for_dangling_references(db_pool: asyncpg.Pool) -> None:
    rule = await make_rule(db_pool)
    event = await make_event(db_pool)
    [enf] = await EnforcementRepository(db_pool).create_many(
        [NewEnforcement(rule.id, rule.ref, event.trigger_ref, event.id, event.created)]
    )
    linked = await make_execution(db_pool, enforcement=enf.id, rule_ref=rule.ref)
    dangling = await make_execution(db_pool, enforcement=987654, parent=123456)
    child = await make_execution(db_pool, parent=linked.id)
    plain = await make_execution(db_pool)

    links = await links_of(db_pool, [linked, dangling, plain])
    assert links[linked.id].enforcement is not None and links[linked.id].enforcement.id == enf.id
    assert links[linked.id].rule is not None and links[linked.id].rule.ref == rule.ref
    assert links[linked.id].trigger is not None and links[linked.id].trigger.ref == "demo.alert"
    assert links[dangling.id].enforcement is None and links[dangling.id].rule is None
    assert links[plain.id].enforcement is None

    parents = await parents_of(db_pool, [child, dangling, plain])
    assert parents[child.id] is not None and parents[child.id].id == linked.id
    assert parents[dangling.id] is None and parents[plain.id] is None
    children = await children_of(db_pool, [linked, plain])
    assert [c.id for c in children[linked.id]] == [child.id] and children[plain.id] == []

    # delete the rule and the event: the joins degrade to None, they do not raise
    await RuleRepository(db_pool).delete_by_ref(rule.ref)
    await db_pool.execute("DELETE FROM event WHERE id = $1", event.id)
    assert (await events_of(db_pool, [enf]))[enf.id] is None
    assert (await links_of(db_pool, [linked]))[linked.id].rule is None


async def test_joins_batch_load(db_pool: asyncpg.Pool) -> None:
    rule = await make_rule(db_pool)
    executions: list[Execution] = []
    for _ in range(30):
        event = await make_event(db_pool)
        [enf] = await EnforcementRepository(db_pool).create_many(
            [NewEnforcement(rule.id, rule.ref, event.trigger_ref, event.id, event.created)]
        )
        executions.append(await make_execution(db_pool, enforcement=enf.id))

    class CountingDb:
        """Delegates to the real pool and counts round trips."""

        def __init__(self, pool: asyncpg.Pool) -> None:
            self.pool, self.calls = pool, 0

        def __getattr__(self, name: str):
            attr = getattr(self.pool, name)

            async def counted(*args, **kwargs):
                self.calls += 1
                return await attr(*args, **kwargs)

            return counted

    db = CountingDb(db_pool)
    links = await links_of(db, executions)  # type: ignore[arg-type]
    queries = db.calls
    assert queries == 3
    assert all(link.rule is not None for link in links.values())


async def test_worker_registration_and_staleness(db_pool: asyncpg.Pool) -> None:
    repo = WorkerRepository(db_pool)
    worker = await repo.register(name="exec-1", host="h", pid=1, concurrency=4)
    assert await repo.heartbeat(worker.id)
    assert await repo.stale(timedelta(seconds=60)) == []
    await db_pool.execute(
        "UPDATE worker SET last_heartbeat = now() - interval '2 minutes' WHERE id = $1", worker.id
    )
    assert [w.name for w in await repo.stale(timedelta(seconds=60))] == ["exec-1"]
    revived = await repo.register(name="exec-1", host="h", pid=2, concurrency=4)
    assert revived.id == worker.id and revived.pid == 2


async def test_listing_is_cursor_paginated(db_pool: asyncpg.Pool) -> None:
    ids = [(await make_execution(db_pool, action_ref=f"demo.a{i % 2}")).id for i in range(25)]
    repo = ExecutionRepository(db_pool)
    page1 = await repo.list(limit=10)
    page2 = await repo.list(limit=10, before_id=page1[-1].id)
    page3 = await repo.list(limit=10, before_id=page2[-1].id)
    assert [x.id for x in page1 + page2 + page3] == sorted(ids, reverse=True)
    assert {x.action_ref for x in await repo.list(action_ref="demo.a1")} == {"demo.a1"}
    assert len(await repo.list(action_ref="demo.*", status=[ExecutionStatus.REQUESTED])) == 25
    assert await ActionRepository(db_pool).list() == []
    assert uuid  # keep import used for factories
