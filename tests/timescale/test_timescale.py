"""The migrations and every repository's SQL on a real TimescaleDB (the WASM build unless
ATTUNE_TEST_TIMESCALE_URL names a server). One connection for the whole tier."""

import uuid
from datetime import timedelta

import asyncpg
import pytest

from attune_shared.database_check import table_columns, verify_database
from attune_shared.joins import children_of, events_of, links_of, parents_of
from attune_shared.migrations import load_migrations, migrate, pending_migrations
from attune_shared.repos import (
    ALL_REPOSITORIES,
    ApiKeyRepository,
    EnforcementRepository,
    EventRepository,
    ExecutionHistoryRepository,
    ExecutionRepository,
    IdentityRepository,
    KeyRepository,
    NewEnforcement,
    NewExecution,
    PolicyRepository,
    RuleRepository,
    SensorRepository,
    WorkerHistoryRepository,
    WorkerRepository,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus, WorkerStatus

from ..shared.factories import make_action, make_event, make_rule, make_trigger, now, set_status

pytestmark = pytest.mark.timescale

HYPERTABLES = {
    # table: (chunk interval, segmentby, orderby, retention)
    "event": (timedelta(days=1), "trigger_ref", "created DESC,id DESC", "90 days"),
    "enforcement": (timedelta(days=1), "rule_ref", "created DESC,id DESC", "90 days"),
    "execution": (timedelta(days=1), "action_ref", "created DESC,id DESC", "90 days"),
    # one segment ordered by entity (0016): an entity has a handful of history rows
    "execution_history": (timedelta(days=1), "", "entity_id,created DESC,id DESC", "90 days"),
    "worker_history": (timedelta(days=7), "", "entity_id,created DESC,id DESC", "180 days"),
    "audit_log": (timedelta(days=7), "action", "created DESC,id DESC", "365 days"),
}
AGGREGATES = {
    "event_volume_hourly": ["bucket", "trigger_ref", "event_count"],
    "enforcement_volume_hourly": ["bucket", "rule_ref", "enforcement_count"],
    "execution_volume_hourly": ["bucket", "action_ref", "status", "execution_count"],
    "execution_status_hourly": ["bucket", "action_ref", "new_status", "transition_count"],
    "execution_throughput_hourly": ["bucket", "action_ref", "execution_count"],
    "worker_status_hourly": ["bucket", "worker_name", "new_status", "transition_count"],
}


async def test_timescale_migrations_applied_and_idempotent(timescale_conn: asyncpg.Connection) -> None:
    assert await timescale_conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    report = await migrate(timescale_conn, timescale_required=True)
    assert report.timescale and report.applied == []
    assert report.not_applicable == ["0003_rollups_plain.sql"]
    assert await pending_migrations(timescale_conn, load_migrations()) == []
    await verify_database(timescale_conn, timescale_required=True)


async def test_hypertables_dimensions_and_chunk_intervals(timescale_conn: asyncpg.Connection) -> None:
    rows = await timescale_conn.fetch(
        "SELECT hypertable_name, num_dimensions, compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = 'attune'"
    )
    assert {r["hypertable_name"] for r in rows} == set(HYPERTABLES)
    assert all(r["num_dimensions"] == 1 and r["compression_enabled"] for r in rows)
    dims = await timescale_conn.fetch(
        "SELECT hypertable_name, column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = 'attune'"
    )
    assert {d["hypertable_name"]: (d["column_name"], d["time_interval"]) for d in dims} == {
        t: ("created", spec[0]) for t, spec in HYPERTABLES.items()
    }


async def test_columnstore_settings(timescale_conn: asyncpg.Connection) -> None:
    rows = await timescale_conn.fetch(
        "SELECT hypertable::text AS t, segmentby, orderby FROM timescaledb_information.hypertable_columnstore_settings"
    )
    settings = {r["t"].removeprefix("attune."): (r["segmentby"] or "", r["orderby"]) for r in rows}
    for table, (_, segmentby, orderby, _) in HYPERTABLES.items():
        assert settings[table] == (segmentby, orderby), table


async def test_policies_exist_as_jobs(timescale_conn: asyncpg.Connection) -> None:
    jobs = await timescale_conn.fetch(
        "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE hypertable_schema = 'attune'"
        " OR hypertable_name LIKE '_materialized_hypertable_%'"
    )
    by_table: dict[str, dict[str, dict]] = {}
    for job in jobs:
        by_table.setdefault(job["hypertable_name"], {})[job["proc_name"]] = _json(job["config"])
    for table, (*_, retention) in HYPERTABLES.items():
        assert by_table[table]["policy_compression"]["compress_after"] == "7 days", table
        assert by_table[table]["policy_retention"]["drop_after"] == retention, table
    refresh = [j for j in jobs if j["proc_name"] == "policy_refresh_continuous_aggregate"]
    assert len(refresh) == len(AGGREGATES)
    offsets = sorted(_json(j["config"])["start_offset"] for j in refresh)
    assert offsets == ["30 days"] + ["7 days"] * 5


async def test_continuous_aggregates(timescale_conn: asyncpg.Connection) -> None:
    rows = await timescale_conn.fetch(
        "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates "
        "WHERE view_schema = 'attune'"
    )
    assert {r["view_name"] for r in rows} == set(AGGREGATES)
    assert not any(r["materialized_only"] for r in rows)  # real-time: recent hours included
    for view, columns in AGGREGATES.items():
        assert await table_columns(timescale_conn, view) == columns, view


async def test_repository_columns_match_on_timescale(timescale_conn: asyncpg.Connection) -> None:
    for repo in ALL_REPOSITORIES:
        assert sorted(await table_columns(timescale_conn, repo.table)) == sorted(repo.columns), repo.table


async def test_every_repository_runs_on_timescale(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = uuid.uuid4().hex[:6]
    trigger = await make_trigger(db, f"ts{tag}.alert")
    action = await make_action(db, f"ts{tag}.run")
    rule = await make_rule(db, f"ts{tag}.on_alert", trigger=trigger, action=action)
    assert [r.ref for r in await RuleRepository(db).enabled_for_trigger(trigger.ref)] == [rule.ref]
    await SensorRepository(db).upsert(
        {"ref": f"ts{tag}.timer", "pack": trigger.pack, "pack_ref": trigger.pack_ref}
    )
    await PolicyRepository(db).upsert(
        {
            "ref": f"ts{tag}.limit",
            "pack": trigger.pack,
            "pack_ref": trigger.pack_ref,
            "action_ref": action.ref,
            "concurrency_limit": 2,
        }
    )
    assert len(await PolicyRepository(db).enabled_for_action(action.ref)) == 1

    event = await make_event(db, trigger.ref, {"host": "db1"})
    assert (await EventRepository(db).list(trigger_ref=f"ts{tag}.*"))[0].id == event.id
    again = await EventRepository(db).insert_many([])
    assert again == []

    enforcements = EnforcementRepository(db)
    new = NewEnforcement(rule.id, rule.ref, trigger.ref, event.id, event.created, config={"a": 1})
    [enf] = await enforcements.create_many([new])
    assert [e.id for e in await enforcements.create_many([new])] == [enf.id]
    assert await enforcements.resolve_many([(enf.id, enf.created, EnforcementStatus.PROCESSED, None)]) == [
        True
    ]
    assert await enforcements.resolve_many([(enf.id, enf.created, EnforcementStatus.DISABLED, None)]) == [
        False
    ]
    assert [e.id for e in await enforcements.for_events([event.id])] == [enf.id]
    assert await enforcements.list(rule_ref=rule.ref)
    assert enf.id not in {e.id for e in await enforcements.pending(timedelta(0))}

    executions = ExecutionRepository(db)
    [(top, created)] = await executions.create_for_enforcements(
        [NewExecution(action_ref=action.ref, enforcement=enf.id, created=enf.created, rule_ref=rule.ref)]
    )
    assert created
    assert not (
        await executions.create_for_enforcements(
            [NewExecution(action_ref=action.ref, enforcement=enf.id, created=enf.created)]
        )
    )[0][1]
    child = await executions.create(NewExecution(action_ref=action.ref, parent=top.id))
    assert await set_status(
        executions, top.id, top.created, ExecutionStatus.REQUESTED, ExecutionStatus.SCHEDULING
    )
    assert await set_status(
        executions,
        top.id,
        top.created,
        ExecutionStatus.SCHEDULING,
        ExecutionStatus.RUNNING,
        started_at=now(),
        worker=1,
    )
    assert await set_status(
        executions,
        top.id,
        top.created,
        ExecutionStatus.RUNNING,
        ExecutionStatus.COMPLETED,
        result={"succeeded": True},
    )
    assert (await executions.get_keys([(top.id, top.created)]))[top.id].status is ExecutionStatus.COMPLETED
    assert await executions.list(action_ref=action.ref, status=ExecutionStatus.COMPLETED)
    assert await executions.stuck([ExecutionStatus.REQUESTED], timedelta(hours=1)) == []

    links = await links_of(db, [top, child])
    assert links[top.id].rule is not None and links[top.id].trigger is not None
    assert (await parents_of(db, [child]))[child.id] is not None
    assert [c.id for c in (await children_of(db, [top]))[top.id]] == [child.id]
    assert (await events_of(db, [enf]))[enf.id] is not None

    history = await ExecutionHistoryRepository(db).for_entity(top.id)
    assert [h.new_values.get("status") for h in history] == [
        "completed",
        "running",
        "scheduling",
        "requested",
    ]

    workers = WorkerRepository(db)
    worker = await workers.register(name=f"ts-{tag}", host="h", pid=1, concurrency=1)
    assert await workers.heartbeat(worker.id)
    assert await workers.set_status(worker.id, WorkerStatus.INACTIVE)
    assert len(await WorkerHistoryRepository(db).for_entity(worker.id)) == 2
    assert await workers.list_workers(status=WorkerStatus.INACTIVE)

    identity, _ = await IdentityRepository(db).upsert({"login": f"ts-{tag}"})
    key = await ApiKeyRepository(db).insert(
        identity=identity.id, name="k", prefix="p", key_hash=tag, role="viewer"
    )
    assert (await ApiKeyRepository(db).get_by_hash(tag)) == key
    await ApiKeyRepository(db).touch(key.id)
    assert await ApiKeyRepository(db).revoke(key.id)
    await KeyRepository(db).put({"name": f"ts{tag}", "scope": "system", "owner": "", "value": "ciphertext"})

    # the real-time aggregates already see the raw rows
    volume = await db.fetchval(
        "SELECT sum(event_count) FROM event_volume_hourly WHERE trigger_ref = $1", trigger.ref
    )
    assert volume == 1
    status = await db.fetch(
        "SELECT new_status, transition_count FROM execution_status_hourly WHERE action_ref = $1", action.ref
    )
    assert {r["new_status"]: r["transition_count"] for r in status}["completed"] == 1


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value


async def test_analytics_queries_on_continuous_aggregates(timescale_conn: asyncpg.Connection) -> None:
    """The API's analytics reads (attune_shared.repos.analytics) on real-time continuous aggregates."""
    from attune_shared.repos.analytics import AnalyticsRepository

    db = timescale_conn
    tag = uuid.uuid4().hex[:6]
    trigger = await make_trigger(db, f"an{tag}.alert")
    action = await make_action(db, f"an{tag}.run")
    rule = await make_rule(db, f"an{tag}.on_alert", trigger=trigger, action=action)
    event = await make_event(db, trigger.ref)
    await EnforcementRepository(db).create_many(
        [NewEnforcement(rule.id, rule.ref, trigger.ref, event.id, event.created)]
    )
    executions = ExecutionRepository(db)
    for outcome in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        x = await executions.create(NewExecution(action_ref=action.ref))
        assert await set_status(
            executions, x.id, x.created, ExecutionStatus.REQUESTED, ExecutionStatus.RUNNING
        )
        assert await set_status(executions, x.id, x.created, ExecutionStatus.RUNNING, outcome)
    worker = await WorkerRepository(db).register(name=f"an-{tag}", host="h", pid=1, concurrency=1)
    await WorkerRepository(db).set_status(worker.id, WorkerStatus.INACTIVE)

    analytics = AnalyticsRepository(db)
    until = now() + timedelta(minutes=1)
    since = until - timedelta(hours=2)
    pattern = f"an{tag}.*"
    assert [(p.ref, p.value) for p in await analytics.event_volume(since, until, pattern)] == [
        (trigger.ref, 1)
    ]
    assert [p.value for p in await analytics.enforcement_volume(since, until, pattern)] == [1]
    assert [p.value for p in await analytics.execution_volume(since, until, pattern)] == [2]
    assert [p.value for p in await analytics.execution_volume(since, until, pattern, "failed")] == [1]
    assert [p.value for p in await analytics.execution_throughput(since, until, pattern)] == [2]
    statuses = {p.status: p.value for p in await analytics.execution_status(since, until, pattern)}
    assert statuses == {"requested": 2, "running": 2, "completed": 1, "failed": 1}
    rate = await analytics.failure_rate(since, until, pattern)
    assert (rate.total_terminal, rate.failed_count, rate.failure_rate_pct) == (2, 1, 50.0)
    workers = {p.status: p.value for p in await analytics.worker_status(since, until, f"an-{tag}")}
    assert workers == {"active": 1, "inactive": 1}
    assert (await analytics.executions_by_status(["requested", "completed"]))["completed"] >= 1
    assert (await analytics.workers_by_status())["inactive"] >= 1


async def test_audit_log_hypertable_is_append_only(timescale_conn: asyncpg.Connection) -> None:
    from attune_shared.repos import AuditRepository, NewAuditRecord

    repo = AuditRepository(timescale_conn)
    record = await repo.append(
        NewAuditRecord(actor="ts", action="rule.enable", outcome="success", source="api")
    )
    assert [r.id for r in await repo.list(actor="ts")] == [record.id]
    for statement in (
        "UPDATE audit_log SET actor = 'x' WHERE id = $1",
        "DELETE FROM audit_log WHERE id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await timescale_conn.execute(statement, record.id)
