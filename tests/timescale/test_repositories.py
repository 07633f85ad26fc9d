"""Every repository method's SQL on a real TimescaleDB, where the time-series tables are hypertables.

``test_timescale.py`` covers the common path; this file runs the rest (batched statements, the
``execution_start`` function, recovery queries, policy admissions, pack registration). The tier shares
one connection for the session, so every test works on rows of its own (a fresh ``tag``) and reads
back only those.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from attune_shared.models import Execution, HistoryEntry, KeyScope
from attune_shared.repos import (
    ActionRepository,
    ApiKeyRepository,
    Enforced,
    EnforcementRepository,
    EventRepository,
    ExecutionHistoryRepository,
    ExecutionRepository,
    IdentityRepository,
    KeyRepository,
    NewEnforcement,
    NewEvent,
    NewExecution,
    PackRepository,
    PolicyAdmissionRepository,
    PolicyRepository,
    QueueHead,
    RuleRepository,
    StatusChange,
    TriggerRepository,
    WorkerHistoryRepository,
    WorkerRepository,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus, WorkerStatus

from ..shared.factories import make_action, make_event, make_pack, make_rule, make_trigger, now, set_status

pytestmark = pytest.mark.timescale

S = ExecutionStatus
OLD = timedelta(minutes=1)  # the recovery queries' "untouched for" threshold used below


def new_tag() -> str:
    return uuid.uuid4().hex[:8]


@contextlib.asynccontextmanager
async def rolled_back(db: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction rolled back at the end, so the rows it made are seen by no other test."""
    tx = db.transaction()
    await tx.start()
    try:
        yield
    finally:
        await tx.rollback()


async def backdate(db: asyncpg.Connection, x: Execution, age: timedelta) -> None:
    """Make an execution look untouched for ``age`` (its triggers, which set ``updated``, are off for this)."""
    await db.execute("SET LOCAL session_replication_role = replica")
    try:
        status = await db.execute(
            "UPDATE execution SET updated = now() - $3::interval WHERE id = $1 AND created = $2",
            x.id,
            x.created,
            age,
        )
    finally:
        await db.execute("SET LOCAL session_replication_role = origin")
    assert status == "UPDATE 1"


async def status_history(db: asyncpg.Connection, execution: int) -> list[tuple[str | None, str | None]]:
    """``(old status, new status)`` of an execution's history rows, oldest first."""
    rows = await ExecutionHistoryRepository(db).for_entity(execution)
    return [(h.old_values.get("status"), h.new_values.get("status")) for h in reversed(rows)]


async def advisory_locks(db: asyncpg.Connection) -> set[tuple[int, int, int]]:
    rows = await db.fetch(
        "SELECT classid::bigint AS c, objid::bigint AS o, objsubid::int AS s FROM pg_locks "
        "WHERE locktype = 'advisory'"  # the WASM build reports no pid; the keys are this test's own
    )
    return {(r["c"], r["o"], r["s"]) for r in rows}


# -- catalog ----------------------------------------------------------------------------------


async def test_catalog_reads_writes_and_upsert_outcomes(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    pack = await make_pack(db, f"c{tag}")
    actions = ActionRepository(db)
    base = {"pack": pack.id, "pack_ref": pack.ref, "runner_type": "builtin"}
    first = await actions.insert({"ref": f"{pack.ref}.a", **base})
    second, outcome = await actions.upsert({"ref": f"{pack.ref}.b", **base})
    assert outcome == "created"
    assert (await actions.upsert({"ref": f"{pack.ref}.b", **base}))[1] == "unchanged"
    changed, outcome = await actions.upsert({"ref": f"{pack.ref}.b", **base, "description": "new"})
    assert (outcome, changed.id, changed.description) == ("updated", second.id, "new")

    assert await actions.get(first.id) == first
    assert (await actions.get_by_ref(f"{pack.ref}.b")) == changed
    assert set(await actions.get_by_refs([first.ref, second.ref, f"{pack.ref}.none"])) == {
        first.ref,
        second.ref,
    }
    assert set(await actions.get_many([first.id, second.id])) == {first.id, second.id}
    assert [a.ref for a in await actions.list(pack=pack.ref)] == [second.ref, first.ref]  # newest first
    assert [a.ref for a in await actions.list(ref=f"{pack.ref}.*", before_id=second.id)] == [first.ref]

    updated = await actions.update(first.ref, {"enabled": False})
    assert updated is not None and not updated.enabled and updated.updated >= first.updated
    assert [a.ref for a in await actions.list(pack=pack.ref, enabled=False)] == [first.ref]
    assert await actions.update(f"{pack.ref}.none", {"enabled": False}) is None
    assert await actions.delete_by_ref(first.ref)
    assert not await actions.delete_by_ref(first.ref)
    assert await actions.get(first.id) is None


async def test_datastore_keys(timescale_conn: asyncpg.Connection) -> None:
    """Every KeyRepository statement on TimescaleDB: scopes, expiry, prefix pages, re-encryption."""
    db, tag = timescale_conn, new_tag()
    keys = KeyRepository(db)
    system = await keys.put({"name": f"k{tag}.a", "scope": "system", "owner": "", "value": "v1"})
    mine = await keys.put({"name": f"k{tag}.a", "scope": "user", "owner": "alice", "value": "v2"})
    again = await keys.put({"name": f"k{tag}.a", "scope": "system", "owner": "", "value": "v3"})
    assert again.id == system.id and again.value == "v3" and again.updated >= system.updated
    expired = await keys.put(
        {
            "name": f"k{tag}.b",
            "scope": "system",
            "owner": "",
            "value": "x",
            "expires_at": now() - timedelta(seconds=1),
        }
    )
    secret = await keys.put(
        {"name": f"k{tag}.c", "scope": "system", "owner": "", "value": "cipher", "encrypted": True}
    )
    assert await keys.get(KeyScope.SYSTEM, "", f"k{tag}.b") is None  # expired: gone for readers
    assert (await keys.get(KeyScope.USER, "alice", f"k{tag}.a")) == mine
    found = await keys.get_by_names({(KeyScope.SYSTEM, "", f"k{tag}.a"), (KeyScope.SYSTEM, "", f"k{tag}.b")})
    assert list(found) == [(KeyScope.SYSTEM, "", f"k{tag}.a")]
    listed = await keys.list(scope=KeyScope.SYSTEM, prefix=f"k{tag}.", limit=1)
    assert [k.name for k in listed] == [f"k{tag}.a"]
    assert [k.name for k in await keys.list(prefix=f"k{tag}.", after=f"k{tag}.a")] == [f"k{tag}.c"]
    assert expired.id not in {k.id for k in await keys.list(prefix=f"k{tag}.")}
    assert await keys.purge_expired() >= 1
    assert [k.id for k in await keys.secrets_after(secret.id - 1, 10)] == [secret.id]
    assert await keys.replace_value(secret.id, "cipher", "cipher2")
    assert not await keys.replace_value(secret.id, "cipher", "cipher3")
    assert await keys.delete(KeyScope.USER, "alice", f"k{tag}.a")
    assert not await keys.delete(KeyScope.USER, "alice", f"k{tag}.a")


async def test_pack_registration_lock_and_owned_components(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    pack = await make_pack(db, f"p{tag}")
    packs = PackRepository(db)
    expected = (packs.REGISTRATION_LOCK, await db.fetchval("SELECT hashtext($1)::oid::bigint", pack.ref), 2)
    async with db.transaction():
        await packs.lock_registration(pack.ref)
        assert expected in await advisory_locks(db)
    assert expected not in await advisory_locks(db)  # released with the transaction

    await make_trigger(db, f"{pack.ref}.b")
    await make_trigger(db, f"{pack.ref}.a")
    await make_trigger(db, f"{pack.ref}.api", is_adhoc=True)
    await make_action(db, f"{pack.ref}.run")
    await make_trigger(db, f"o{tag}.other")
    assert [t.ref for t in await TriggerRepository(db).owned_by_pack(pack.ref)] == [
        f"{pack.ref}.a",
        f"{pack.ref}.b",
    ]
    assert [a.ref for a in await ActionRepository(db).owned_by_pack(pack.ref)] == [f"{pack.ref}.run"]
    assert await RuleRepository(db).owned_by_pack(pack.ref) == []


async def test_enabled_rules_and_policies_of_many(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    t1, t2, t3 = [await make_trigger(db, f"e{tag}.t{i}") for i in (1, 2, 3)]
    a1, a2, a3 = [await make_action(db, f"e{tag}.a{i}") for i in (1, 2, 3)]
    r1 = await make_rule(db, f"e{tag}.r1", trigger=t1, action=a1)
    r2 = await make_rule(db, f"e{tag}.r2", trigger=t2, action=a2)
    await make_rule(db, f"e{tag}.off", trigger=t1, action=a1, enabled=False)
    await make_rule(db, f"e{tag}.r3", trigger=t3, action=a3)
    assert [r.id for r in await RuleRepository(db).enabled_for_triggers([t2.ref, t1.ref])] == [r1.id, r2.id]
    assert await RuleRepository(db).enabled_for_triggers([f"e{tag}.none"]) == []

    policies = PolicyRepository(db)
    common = {"pack": a1.pack, "pack_ref": a1.pack_ref, "concurrency_limit": 1}
    p1, _ = await policies.upsert({"ref": f"e{tag}.p1", "action_ref": a1.ref, **common})
    p2, _ = await policies.upsert({"ref": f"e{tag}.p2", "action_ref": a2.ref, **common})
    await policies.upsert({"ref": f"e{tag}.off", "action_ref": a2.ref, "enabled": False, **common})
    await policies.upsert({"ref": f"e{tag}.p3", "action_ref": a3.ref, **common})
    assert [p.id for p in await policies.enabled_for_actions([a2.ref, a1.ref])] == [p1.id, p2.id]
    assert [p.ref for p in await policies.owned_by_pack(a1.pack_ref)] == [
        f"e{tag}.off",
        f"e{tag}.p1",
        f"e{tag}.p2",
        f"e{tag}.p3",
    ]


# -- events and enforcements ------------------------------------------------------------------


async def test_event_redelivery_returns_the_existing_row(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    events = EventRepository(db)
    at = now()
    first = NewEvent(created=at, trigger_ref=f"v{tag}.t", payload={"n": 1}, dedup_id=f"{tag}-1")
    second = NewEvent(created=at, trigger_ref=f"v{tag}.t", payload={"n": 2}, dedup_id=f"{tag}-2")
    [stored] = await events.insert_many([first])
    assert stored.new
    again = await events.insert_many([second, first])
    assert [(s.dedup_id, s.new) for s in again] == [(f"{tag}-2", True), (f"{tag}-1", False)]
    assert again[1].id == stored.id
    row = await events.get(stored.id)  # without `created`: every chunk is searched
    assert row is not None and row.payload == {"n": 1}
    assert [e.id for e in await events.list(trigger_ref=f"v{tag}.t")] == [again[0].id, stored.id]


async def test_enforcements_resolve_many(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    trigger = await make_trigger(db, f"f{tag}.t")
    rule = await make_rule(db, f"f{tag}.r", trigger=trigger, action=await make_action(db, f"f{tag}.a"))
    evs = [await make_event(db, trigger.ref) for _ in range(3)]
    repo = EnforcementRepository(db)
    e1, e2, e3 = await repo.create_many(
        [NewEnforcement(rule.id, rule.ref, trigger.ref, e.id, e.created) for e in evs]
    )
    assert await repo.resolve_many([(e3.id, e3.created, EnforcementStatus.PROCESSED, None)]) == [True]

    won = await repo.resolve_many(
        [
            (e1.id, e1.created, EnforcementStatus.PROCESSED, None),
            (e2.id, e2.created, EnforcementStatus.DISABLED, "rule disabled"),
            (e3.id, e3.created, EnforcementStatus.DISABLED, "too late"),
        ]
    )
    assert won == [True, True, False]
    rows = await repo.get_keys([(e.id, e.created) for e in (e1, e2, e3)])
    assert [(rows[e.id].status, rows[e.id].failure_reason) for e in (e1, e2, e3)] == [
        (EnforcementStatus.PROCESSED, None),
        (EnforcementStatus.DISABLED, "rule disabled"),
        (EnforcementStatus.PROCESSED, None),
    ]
    assert all(rows[e.id].resolved_at is not None for e in (e1, e2, e3))
    assert await repo.resolve_many([(e1.id, e1.created, EnforcementStatus.DISABLED, None)]) == [False]
    assert await repo.resolve_many([]) == []


async def test_create_for_enforcements_resolves_in_the_same_statement(
    timescale_conn: asyncpg.Connection,
) -> None:
    db = timescale_conn
    tag = new_tag()
    trigger = await make_trigger(db, f"g{tag}.t")
    action = await make_action(db, f"g{tag}.a")
    rule = await make_rule(db, f"g{tag}.r", trigger=trigger, action=action)
    evs = [await make_event(db, trigger.ref) for _ in range(3)]
    enforcements = EnforcementRepository(db)
    e1, e2, e3 = await enforcements.create_many(
        [NewEnforcement(rule.id, rule.ref, trigger.ref, e.id, e.created) for e in evs]
    )

    def new(e) -> NewExecution:
        return NewExecution(
            action_ref=action.ref,
            action=action.id,
            enforcement=e.id,
            created=e.created,
            rule_ref=rule.ref,
            trigger_ref=trigger.ref,
            config={"n": e.id},
            timeout_seconds=30,
            trace_tag=tag,
        )

    executions = ExecutionRepository(db)
    processed = [(e.id, e.created, EnforcementStatus.PROCESSED, None) for e in (e1, e2)]
    made = await executions.create_for_enforcements([new(e1), new(e2)], resolve=processed)
    assert [created for _, created in made] == [True, True]
    assert [(x.enforcement, x.created, x.config, x.status) for x, _ in made] == [
        (e.id, e.created, {"n": e.id}, S.REQUESTED) for e in (e1, e2)
    ]
    resolved = await enforcements.get_keys([(e.id, e.created) for e in (e1, e2, e3)])
    assert [resolved[e.id].status for e in (e1, e2, e3)] == [
        EnforcementStatus.PROCESSED,
        EnforcementStatus.PROCESSED,
        EnforcementStatus.CREATED,
    ]

    again = await executions.create_for_enforcements([new(e2), new(e1)], resolve=processed)
    assert [(x.id, created) for x, created in again] == [(made[1][0].id, False), (made[0][0].id, False)]
    assert len(await executions.list(rule_ref=rule.ref)) == 2

    # no executions to create: the resolutions alone still run
    assert (
        await executions.create_for_enforcements(
            [], resolve=[(e3.id, e3.created, EnforcementStatus.DISABLED, "no action")]
        )
        == []
    )
    e3_now = await enforcements.get(e3.id, e3.created)
    assert e3_now is not None
    assert (e3_now.status, e3_now.failure_reason) == (EnforcementStatus.DISABLED, "no action")
    assert await status_history(db, made[0][0].id) == [(None, "requested")]


# -- executions -------------------------------------------------------------------------------


async def test_update_status_many_is_a_compare_and_set_per_row(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    repo = ExecutionRepository(db)
    x1, x2, x3 = [await repo.create(NewExecution(action_ref=f"u{tag}.a")) for _ in range(3)]
    assert await set_status(repo, x2.id, x2.created, S.REQUESTED, S.RUNNING)
    started = now()
    results = await repo.update_status_many(
        [
            StatusChange(x1.id, x1.created, (S.REQUESTED, S.SCHEDULING), S.SCHEDULED, {"worker": 7}),
            StatusChange(x2.id, x2.created, (S.RUNNING,), S.COMPLETED, {"result": {"ok": True}}),
            StatusChange(x3.id, x3.created, (S.RUNNING,), S.FAILED, {"result": {"ok": False}}),
        ]
    )
    assert results == [S.REQUESTED, S.RUNNING, None]
    rows = await repo.get_keys([(x.id, x.created) for x in (x1, x2, x3)])
    assert (rows[x1.id].status, rows[x1.id].worker, rows[x1.id].result) == (S.SCHEDULED, 7, None)
    assert (rows[x2.id].status, rows[x2.id].result, rows[x2.id].worker) == (S.COMPLETED, {"ok": True}, None)
    assert (rows[x3.id].status, rows[x3.id].result) == (S.REQUESTED, None)  # lost: untouched

    [won] = await repo.update_status_many(
        [StatusChange(x1.id, x1.created, (S.SCHEDULED,), S.RUNNING, {"started_at": started})]
    )
    assert won is S.SCHEDULED
    running = await repo.get(x1.id, x1.created)
    assert running is not None and running.started_at == started and running.worker == 7
    assert await status_history(db, x1.id) == [
        (None, "requested"),
        ("requested", "scheduled"),
        ("scheduled", "running"),
    ]
    worker_change = (await ExecutionHistoryRepository(db).for_entity(x1.id))[1]
    assert worker_change.changed_fields == ["status", "worker"] and worker_change.new_values["worker"] == 7
    assert await status_history(db, x3.id) == [(None, "requested")]
    with pytest.raises(ValueError):
        await repo.update_status_many([StatusChange(x1.id, x1.created, (S.RUNNING,), S.FAILED)] * 2)


async def test_start_many_records_the_three_steps(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    repo = ExecutionRepository(db)
    worker = await WorkerRepository(db).register(name=f"s-{tag}", host="h", pid=1, concurrency=4)
    due1, due2 = [await repo.create(NewExecution(action_ref=f"s{tag}.a")) for _ in range(2)]
    later = await repo.create(NewExecution(action_ref=f"s{tag}.a", run_after=now() + timedelta(hours=1)))
    cancelled = await repo.create(NewExecution(action_ref=f"s{tag}.a"))
    assert await set_status(repo, cancelled.id, cancelled.created, S.REQUESTED, S.CANCELLED)

    started_at = now()
    keys = [(x.id, x.created) for x in (due2, later, cancelled, due1)]
    started = await repo.start_many(keys, worker.id, started_at)
    assert sorted(x.id for x in started) == sorted([due1.id, due2.id])
    assert all((x.status, x.worker, x.started_at) == (S.RUNNING, worker.id, started_at) for x in started)
    for x in (due1, due2):
        assert await status_history(db, x.id) == [
            (None, "requested"),
            ("requested", "scheduling"),
            ("scheduling", "scheduled"),
            ("scheduled", "running"),
        ]
        steps = list(reversed(await ExecutionHistoryRepository(db).for_entity(x.id)))
        assert steps[2].changed_fields == ["status", "worker"]
        assert steps[2].new_values["worker"] == worker.id and steps[2].old_values["worker"] is None
        assert steps[3].changed_fields == ["status", "started_at"]
        assert steps[3].new_values["started_at"] is not None
    rows = await repo.get_keys([(later.id, later.created), (cancelled.id, cancelled.created)])
    assert (rows[later.id].status, rows[later.id].worker) == (S.REQUESTED, None)
    assert rows[cancelled.id].status is S.CANCELLED
    assert await status_history(db, later.id) == [(None, "requested")]
    assert await repo.start_many(keys, worker.id, started_at) == []  # nothing requested and due
    assert await repo.start_many([], worker.id, started_at) == []


async def test_an_execution_created_running_records_a_creation_and_a_start(
    timescale_conn: asyncpg.Connection,
) -> None:
    """Created ``running`` (what a replica does with an execution it starts where it creates it),
    the history reads exactly as created ``requested`` and started by ``start_many``."""
    db = timescale_conn
    tag = new_tag()
    repo = ExecutionRepository(db)
    worker = await WorkerRepository(db).register(name=f"c-{tag}", host="h", pid=1, concurrency=4)
    started_at = now()
    [(x, created_now)] = await repo.create_for_enforcements(
        [
            NewExecution(
                action_ref=f"c{tag}.a",
                enforcement=1,
                created=started_at,
                status=S.RUNNING,
                worker=worker.id,
                started_at=started_at,
            )
        ]
    )
    assert created_now and (x.status, x.worker, x.started_at) == (S.RUNNING, worker.id, started_at)
    y = await repo.create(NewExecution(action_ref=f"c{tag}.a"))
    await repo.start_many([(y.id, y.created)], worker.id, started_at)

    def comparable(history: list[HistoryEntry]) -> list[tuple[object, ...]]:
        return [
            (
                h.operation,
                h.changed_fields,
                h.old_values,
                {k: v for k, v in h.new_values.items() if k != "enforcement"},
            )
            for h in history
        ]

    # and so does one created with its enforcement, resolved in the same statement
    event_created = now()
    [made] = await repo.create_enforced(
        [
            Enforced(
                NewEnforcement(1, f"c{tag}.r", f"c{tag}.t", x.id, event_created, {"n": 1}),
                NewExecution(
                    action_ref=f"c{tag}.a", status=S.RUNNING, worker=worker.id, started_at=started_at
                ),
            )
        ]
    )
    assert made is not None and made[1] is not None
    enf, z = made
    assert enf.status is EnforcementStatus.PROCESSED and (z.enforcement, z.config) == (enf.id, {"n": 1})
    again = Enforced(NewEnforcement(1, f"c{tag}.r", f"c{tag}.t", x.id, event_created), failure_reason="again")
    assert await repo.create_enforced([again]) == [None]  # the (rule, event) has its enforcement

    created, started, enforced = [await ExecutionHistoryRepository(db).for_entity(e.id) for e in (x, y, z)]
    assert comparable(created) == comparable(started) == comparable(enforced)
    assert await status_history(db, x.id) == [
        (None, "requested"),
        ("requested", "scheduling"),
        ("scheduling", "scheduled"),
        ("scheduled", "running"),
    ]
    assert len({h.created for h in created}) == 1  # one transaction


async def test_start_flag_does_not_outlive_start_many(timescale_conn: asyncpg.Connection) -> None:
    """``attune.start`` marks only ``execution_start``'s own update, even within one transaction."""
    db = timescale_conn
    tag = new_tag()
    repo = ExecutionRepository(db)
    a, b = [await repo.create(NewExecution(action_ref=f"l{tag}.a")) for _ in range(2)]
    async with db.transaction():
        assert [x.id for x in await repo.start_many([(a.id, a.created)], 1, now())] == [a.id]
        assert await db.fetchval("SELECT current_setting('attune.start', true)") in ("", None)
        assert await set_status(repo, b.id, b.created, S.REQUESTED, S.RUNNING)
    assert len(await status_history(db, a.id)) == 4
    assert await status_history(db, b.id) == [(None, "requested"), ("requested", "running")]


async def test_recovery_queries(timescale_conn: asyncpg.Connection) -> None:
    # rolled back: the backdated rows would otherwise be "stuck" for every later test
    async with rolled_back(timescale_conn):
        await _recovery_queries(timescale_conn)


async def _recovery_queries(db: asyncpg.Connection) -> None:
    tag = new_tag()
    repo = ExecutionRepository(db)
    workers = WorkerRepository(db)
    live = await workers.register(name=f"r-{tag}-live", host="h", pid=1, concurrency=1)
    inactive = await workers.register(name=f"r-{tag}-off", host="h", pid=2, concurrency=1)
    assert await workers.set_status(inactive.id, WorkerStatus.INACTIVE)
    silent = await workers.register(name=f"r-{tag}-silent", host="h", pid=3, concurrency=1)
    await db.execute(
        "UPDATE worker SET last_heartbeat = now() - interval '10 minutes' WHERE id = $1", silent.id
    )

    async def make(
        status: ExecutionStatus, age: timedelta | None = None, worker: int | None = None, **values
    ) -> Execution:
        x = await repo.create(NewExecution(action_ref=f"r{tag}.a", **values))
        if status is not S.REQUESTED or worker is not None:
            extra = {} if worker is None else {"worker": worker}
            assert await set_status(repo, x.id, x.created, S.REQUESTED, status, **extra)
        if age is not None:
            await backdate(db, x, age)
        return x

    hour = timedelta(hours=1)
    on_live = await make(S.RUNNING, worker=live.id)
    on_inactive = await make(S.RUNNING, worker=inactive.id)
    on_silent = await make(S.RUNNING, worker=silent.id)
    on_none = await make(S.SCHEDULED)
    on_gone = await make(S.RUNNING, worker=-1)
    done_on_inactive = await make(S.COMPLETED, worker=inactive.id)
    ours = {x.id for x in (on_live, on_inactive, on_silent, on_none, on_gone, done_on_inactive)}

    orphaned = await repo.without_live_worker([S.SCHEDULED, S.RUNNING], timedelta(minutes=1))
    assert {x.id for x in orphaned} & ours == {on_inactive.id, on_silent.id, on_none.id, on_gone.id}
    orphaned = await repo.without_live_worker([S.RUNNING], timedelta(hours=1))  # silent is within
    assert {x.id for x in orphaned} & ours == {on_inactive.id, on_gone.id}

    assert [x.id for x in await repo.of_worker(inactive.id, [S.RUNNING, S.CANCELING])] == [on_inactive.id]
    assert [x.id for x in await repo.of_worker(inactive.id, [S.COMPLETED])] == [done_on_inactive.id]
    assert await repo.of_worker(live.id, [S.COMPLETED]) == []

    due = await make(S.REQUESTED, hour)
    due_now = await make(S.REQUESTED, hour, run_after=now() - timedelta(seconds=1))
    fresh = await make(S.REQUESTED)
    not_yet = await make(S.REQUESTED, hour, run_after=now() + hour)
    scheduled_old = await make(S.SCHEDULED, hour)
    requested = {x.id for x in (due, due_now, fresh, not_yet, scheduled_old)}
    assert {x.id for x in await repo.requested_due(OLD)} & requested == {due.id, due_now.id}
    assert {x.id for x in await repo.requested_due(2 * hour)} & requested == set()
    assert {x.id for x in await repo.stuck([S.SCHEDULED], OLD)} & requested == {scheduled_old.id}

    action = await make_action(db, f"r{tag}.a")
    policy, _ = await PolicyRepository(db).upsert(
        {
            "ref": f"r{tag}.p",
            "pack": action.pack,
            "pack_ref": action.pack_ref,
            "action_ref": action.ref,
            "concurrency_limit": 1,
        }
    )
    admissions = PolicyAdmissionRepository(db)
    unqueued = await make(S.SCHEDULING, hour)
    queued = await make(S.SCHEDULING, hour)
    admitted = await make(S.SCHEDULING, hour)
    recent = await make(S.SCHEDULING)
    await admissions.enqueue(policy.id, "", queued.id, queued.created, action.ref)
    await admissions.admit(policy.id, "", admitted.id, admitted.created, action.ref)
    # admit and enqueue wrote rows and did not touch `updated`
    scheduling = {x.id for x in (unqueued, queued, admitted, recent)}
    assert {x.id for x in await repo.scheduling_unqueued(OLD)} & scheduling == {unqueued.id, admitted.id}

    child = await repo.create(NewExecution(action_ref=f"r{tag}.a", parent=due.id))
    assert [x.id for x in await repo.children([due.id, fresh.id])] == [child.id]


# -- policy admissions ------------------------------------------------------------------------


async def test_policy_admission_queue_slots_and_purge(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    action = await make_action(db, f"q{tag}.a")
    policies = PolicyRepository(db)
    common = {"pack": action.pack, "pack_ref": action.pack_ref, "action_ref": action.ref}
    policy, _ = await policies.upsert({"ref": f"q{tag}.limit", "concurrency_limit": 1, **common})
    repo = ExecutionRepository(db)
    x1, x2, x3 = [await repo.create(NewExecution(action_ref=action.ref, config={"n": i})) for i in (1, 2, 3)]
    adm = PolicyAdmissionRepository(db)
    p, ref = policy.id, action.ref

    assert not await adm.older_waiting(p, ref, [], "", x1.id, x1.created)
    assert await adm.older_waiting(p, ref, [], "", x3.id, x3.created)

    lock_key = await db.fetchval(
        "SELECT hashtextextended('attune.policy:' || $1::bigint || ':' || $2, 0)", p, ""
    )
    expected = ((lock_key >> 32) & 0xFFFFFFFF, lock_key & 0xFFFFFFFF, 1)
    async with db.transaction():
        await adm.lock(p, "")
        assert expected in await advisory_locks(db)
        assert await adm.slots_taken(p, "") == 0
        await adm.admit(p, "", x1.id, x1.created, ref)
        await adm.enqueue(p, "", x2.id, x2.created, ref)
        await adm.enqueue(p, "", x3.id, x3.created, ref)
        await adm.enqueue(p, "", x2.id, x2.created, ref)  # a no-op: x2 has its row
    assert expected not in await advisory_locks(db)

    [a1] = await adm.of_execution(x1.id, x1.created)
    [a2] = await adm.of_execution(x2.id, x2.created)
    assert (a1.policy, a1.state, a1.action_ref) == (p, "active", ref) and a1.admitted_at is not None
    assert (a2.state, a2.admitted_at) == ("queued", None)
    assert await adm.is_queued(x2.id, x2.created) and not await adm.is_queued(x1.id, x1.created)
    assert await adm.slots_taken(p, "") == 1
    assert await adm.slots_taken(p, "", excluding=x1.id) == 0
    assert await adm.admitted_since(p, 60) == 1
    assert await adm.admitted_since(p, 60, excluding=x1.id) == 0
    assert await adm.head(p, "") == QueueHead(p, "", x2.id, x2.created, ref)
    assert await adm.head(p, '["other"]') is None
    assert [h for h in await adm.heads() if h.policy == p] == [QueueHead(p, "", x2.id, x2.created, ref)]
    assert not await adm.older_waiting(p, ref, [], "", x2.id, x2.created)  # x1 holds its admission
    assert await adm.older_waiting(p, ref, [], "", x3.id, x3.created)  # x2 is still waiting

    # x1 ends: its slot frees; x2 is admitted from the queue
    assert await set_status(repo, x1.id, x1.created, S.REQUESTED, S.COMPLETED)
    assert await adm.slots_taken(p, "") == 0
    await adm.admit(p, "", x2.id, x2.created, ref)
    [admitted] = await adm.of_execution(x2.id, x2.created)
    assert (admitted.id, admitted.state) == (a2.id, "active") and admitted.admitted_at is not None
    assert await adm.slots_taken(p, "") == 1
    assert await adm.head(p, "") == QueueHead(p, "", x3.id, x3.created, ref)

    assert await adm.purge() >= 1
    assert await adm.of_execution(x1.id, x1.created) == []  # ended, and no rate window to keep it for
    assert len(await adm.of_execution(x2.id, x2.created)) == 1
    assert await set_status(repo, x3.id, x3.created, S.REQUESTED, S.CANCELLED)
    assert await adm.head(p, "") is None
    assert [h for h in await adm.heads() if h.policy == p] == []
    await adm.purge()
    assert await adm.of_execution(x3.id, x3.created) == []

    # a rate-limited policy keeps ended admissions while they are in its window
    rated, _ = await policies.upsert(
        {"ref": f"q{tag}.rate", "rate_limit_max": 5, "rate_limit_window_seconds": 3600, **common}
    )
    x4 = await repo.create(NewExecution(action_ref=action.ref))
    await adm.admit(rated.id, "", x4.id, x4.created, ref)
    assert await set_status(repo, x4.id, x4.created, S.REQUESTED, S.COMPLETED)
    await adm.purge()
    assert await adm.admitted_since(rated.id, 3600) == 1
    assert await adm.admitted_since(rated.id, 3600, excluding=x4.id) == 0
    assert len(await adm.of_execution(x4.id, x4.created)) == 1


async def test_policy_admission_older_waiting_by_group(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    action = await make_action(db, f"w{tag}.a")
    policy, _ = await PolicyRepository(db).upsert(
        {
            "ref": f"w{tag}.p",
            "pack": action.pack,
            "pack_ref": action.pack_ref,
            "action_ref": action.ref,
            "concurrency_limit": 1,
            "concurrency_group_by": ["host"],
        }
    )
    repo = ExecutionRepository(db)
    a1, b1, a2 = [
        await repo.create(NewExecution(action_ref=action.ref, config={"host": h, "x": 1})) for h in "aba"
    ]
    not_due = await repo.create(
        NewExecution(action_ref=action.ref, config={"host": "c"}, run_after=now() + timedelta(hours=1))
    )
    c1 = await repo.create(NewExecution(action_ref=action.ref, config={"host": "c"}))
    adm = PolicyAdmissionRepository(db)
    by_host = ["host"]
    assert await adm.older_waiting(policy.id, action.ref, by_host, '["a"]', a2.id, a2.created)
    assert not await adm.older_waiting(policy.id, action.ref, by_host, '["a"]', a1.id, a1.created)
    assert not await adm.older_waiting(policy.id, action.ref, by_host, '["b"]', b1.id, b1.created)
    assert await adm.older_waiting(policy.id, action.ref, by_host, '["b"]', a2.id, a2.created)
    # a requested execution whose run_after lies ahead does not go first
    assert not await adm.older_waiting(policy.id, action.ref, by_host, '["c"]', c1.id, c1.created)
    assert not_due.id < c1.id
    # a scheduling execution that was admitted no longer waits; one not admitted still does
    assert await set_status(repo, a1.id, a1.created, S.REQUESTED, S.SCHEDULING)
    assert await adm.older_waiting(policy.id, action.ref, by_host, '["a"]', a2.id, a2.created)
    await adm.admit(policy.id, '["a"]', a1.id, a1.created, action.ref)
    assert not await adm.older_waiting(policy.id, action.ref, by_host, '["a"]', a2.id, a2.created)
    assert await adm.slots_taken(policy.id, '["a"]') == 1 and await adm.slots_taken(policy.id, '["b"]') == 0


# -- workers, security, history ---------------------------------------------------------------


async def test_worker_staleness_expected_status_and_removal(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    workers = WorkerRepository(db)
    fresh = await workers.register(name=f"k-{tag}-fresh", host="h", pid=1, concurrency=1)
    old = await workers.register(name=f"k-{tag}-old", host="h", pid=2, concurrency=1)
    off = await workers.register(name=f"k-{tag}-off", host="h", pid=3, concurrency=1)
    await db.execute(
        "UPDATE worker SET last_heartbeat = now() - interval '5 minutes' WHERE id = ANY($1::bigint[])",
        [old.id, off.id],
    )
    assert not await workers.set_status(off.id, WorkerStatus.INACTIVE, expected=WorkerStatus.BUSY)
    assert await workers.set_status(off.id, WorkerStatus.INACTIVE, expected=WorkerStatus.ACTIVE)
    ours = {fresh.id, old.id, off.id}
    assert [w.id for w in await workers.stale(timedelta(minutes=1)) if w.id in ours] == [old.id]
    assert [w.id for w in await workers.stale(timedelta(minutes=10)) if w.id in ours] == []
    assert not await workers.heartbeat(off.id)

    assert [w.name for w in await workers.list(ref=f"k-{tag}-old")] == [old.name]
    assert (await workers.get_by_ref(fresh.name)) is not None
    assert await workers.delete_by_ref(off.name)
    history = await WorkerHistoryRepository(db).for_entity(off.id)
    assert [h.operation for h in history] == ["DELETE", "UPDATE", "INSERT"]
    assert history[0].old_values == {"name": off.name, "status": "inactive"}
    page = await WorkerHistoryRepository(db).for_entity(off.id, before_id=history[0].id, limit=1)
    assert [h.id for h in page] == [history[1].id]


async def test_api_keys_listed_per_identity(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    tag = new_tag()
    identities = IdentityRepository(db)
    alice, _ = await identities.upsert({"login": f"alice-{tag}"})
    bob, _ = await identities.upsert({"login": f"bob-{tag}"})
    keys = ApiKeyRepository(db)
    k1 = await keys.insert(identity=alice.id, name="one", prefix="a1", key_hash=f"{tag}-1", role="admin")
    k2 = await keys.insert(identity=alice.id, name="two", prefix="a2", key_hash=f"{tag}-2", role="viewer")
    await keys.insert(identity=bob.id, name="b", prefix="b1", key_hash=f"{tag}-3", role="operator")
    assert [k.id for k in await keys.list(identity=alice.id)] == [k2.id, k1.id]
    assert [k.id for k in await keys.list(identity=alice.id, limit=1)] == [k2.id]
    await keys.touch(k1.id)
    touched = await keys.get_by_hash(f"{tag}-1")
    assert touched is not None and touched.last_used_at is not None
    await keys.touch(k1.id)  # within the minute: not written again
    assert (await keys.get_by_hash(f"{tag}-1")) == touched
