"""Several replicas and run slots: work is shared and done exactly once, also when a replica is
SIGKILLed, and a replica runs no more actions at once than its concurrency."""

from __future__ import annotations

from collections import Counter

import asyncpg
import pytest

from attune_shared.bus import Bus
from attune_shared.models import Execution
from attune_shared.repos import ExecutionHistoryRepository, WorkerRepository
from attune_shared.statuses import TERMINAL_STATUSES, ExecutionStatus

from ..shared.factories import make_action, make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import executions_of, finished, fire, request, status_of, wait_for

S = ExecutionStatus
pytestmark = pytest.mark.slow


async def test_two_replicas_share_500_events_exactly_once(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    noop = await make_action(db_pool, "demo.sink", runner_type="builtin", entry_point="noop")
    await make_rule(
        db_pool,
        "demo.load",
        trigger=await make_trigger(db_pool, "demo.load"),
        action=noop,
        action_params={"n": "{{ trigger.n }}"},
    )
    await start_executor("ex-a")
    await start_executor("ex-b")
    await fire(db_pool, bus, "demo.load", *({"n": i} for i in range(500)))
    done = await finished(db_pool, 500, timeout=90)
    assert len(done) == 500 and {x.status for x in done} == {S.COMPLETED}
    assert sorted(x.config["n"] for x in done) == list(range(500))  # one execution per event
    assert len({x.enforcement for x in done}) == 500
    workers = {w.id: w.name for w in await WorkerRepository(db_pool).list_workers()}
    shares = Counter(workers[x.worker] for x in done if x.worker is not None)
    assert set(shares) == {"ex-a", "ex-b"}, shares
    running = await db_pool.fetchval(
        "SELECT count(*) FROM execution_history WHERE 'status' = ANY(changed_fields) AND new_values->>'status' = 'running'"
    )
    assert running == 500  # nothing ran twice


async def test_sigkill_of_a_replica_while_50_actions_run(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    work = await make_action(db_pool, "demo.work", runner_type="shell", max_retries=1, timeout_seconds=30)
    await make_rule(
        db_pool,
        "demo.on_job",
        trigger=await make_trigger(db_pool, "demo.job"),
        action=work,
        action_params={"cmd": "sleep 1.5; echo done"},
    )
    victim = await start_executor("ex-victim", CONCURRENCY="16")
    await start_executor("ex-survivor", CONCURRENCY="16")
    await fire(db_pool, bus, "demo.job", *({"n": i} for i in range(50)))
    workers = {w.name: w.id for w in await WorkerRepository(db_pool).list_workers()}

    async def victim_busy() -> bool:
        xs = await executions_of(db_pool, "demo.work")
        return sum(1 for x in xs if x.status is S.RUNNING and x.worker == workers["ex-victim"]) >= 8

    await wait_for(victim_busy, 15, "the victim to run actions")
    await victim.kill()

    async def settled() -> list | None:
        xs = await executions_of(db_pool, "demo.work")
        tops = [x for x in xs if x.original_execution is None]
        if len(tops) < 50 or any(x.status not in TERMINAL_STATUSES for x in xs):
            return None
        retried = {x.original_execution for x in xs if x.original_execution is not None}
        if any(x.status is S.ABANDONED and x.id not in retried for x in tops):
            return None
        return xs

    xs = await wait_for(settled, 60, "every execution to end")
    tops = [x for x in xs if x.original_execution is None]
    retries = [x for x in xs if x.original_execution is not None]
    assert len(tops) == 50 and len({x.enforcement for x in tops}) == 50  # no duplicates
    abandoned = [x for x in tops if x.status is S.ABANDONED]
    assert abandoned, "the victim was killed while running actions"
    assert all(x.worker == workers["ex-victim"] for x in abandoned)
    assert sorted(r.original_execution for r in retries) == sorted(x.id for x in abandoned)  # type: ignore[type-var]
    assert {x.status for x in tops if x not in abandoned} <= {S.COMPLETED}
    assert {r.status for r in retries} == {S.COMPLETED}
    for x in xs:
        history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
        assert sum(1 for h in history if h.new_values.get("status") == "running") <= 1
    await finished(db_pool, 50 + len(retries), "demo.work")


async def test_replicas_claim_no_more_than_they_can_run(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await start_executor("ex-small-a", CONCURRENCY="2")
    await start_executor("ex-small-b", CONCURRENCY="2")
    for _ in range(8):
        await request(db_pool, bus, "core.sleep", {"seconds": 0.6})
    waiting_while_full = False

    async def all_done() -> list[Execution]:
        nonlocal waiting_while_full
        xs = await executions_of(db_pool, "core.sleep")
        if sum(x.status is S.RUNNING for x in xs) >= 4 and any(x.status is S.REQUESTED for x in xs):
            waiting_while_full = True  # the rest stays in the stream, claimed by nobody
        return xs if len([x for x in xs if x.status is S.COMPLETED]) == 8 else []

    done = await wait_for(all_done, 20, "8 sleeps")
    # a run's slot is free once its action returns (its end is recorded after): what counts is how
    # many actions ran at once, from `started_at` (set before the action starts) for its duration
    runs: dict[int | None, list[tuple[float, float]]] = {}
    for x in done:
        assert x.started_at is not None and x.result is not None
        start = x.started_at.timestamp()
        runs.setdefault(x.worker, []).append((start, start + x.result["duration_ms"] / 1000))
    peak = {worker: _most_at_once(spans) for worker, spans in runs.items()}
    assert len(peak) == 2 and set(peak.values()) == {2}, peak  # both ran two at a time, never more
    assert waiting_while_full


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


async def test_a_run_slot_is_free_once_the_action_returns(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """The next run starts while the previous end is still being written: here that write waits
    on a row lock the test holds, and the only slot serves the next execution meanwhile."""
    await start_executor("ex-one-slot", CONCURRENCY="1")
    first = await request(db_pool, bus, "core.sleep", {"seconds": 1})
    await wait_for(lambda: _has_status(db_pool, first, S.RUNNING), 20, "the sleep running")
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM execution WHERE id = $1 FOR UPDATE", first.id)
        second = await request(db_pool, bus, "core.noop")
        await wait_for(lambda: _has_status(db_pool, second, S.RUNNING, S.COMPLETED), 20, "the noop started")
        assert (await status_of(db_pool, first)).status is S.RUNNING  # its end waits for the lock
    done = await finished(db_pool, 2)
    assert [x.status for x in done] == [S.COMPLETED, S.COMPLETED]


async def _has_status(db: asyncpg.Pool, x: Execution, *statuses: ExecutionStatus) -> bool:
    return (await status_of(db, x)).status in statuses


async def test_events_wait_for_run_slots_so_their_executions_start_where_created(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """A burst larger than the slots is taken as slots free: its executions are created `running`
    by the replica that runs them, not queued `requested` behind a wake-up."""
    noop = await make_action(db_pool, "demo.quick", runner_type="builtin", entry_point="noop")
    await make_rule(db_pool, "demo.on_burst", trigger=await make_trigger(db_pool, "demo.burst"), action=noop)
    await start_executor("ex-two-slots", CONCURRENCY="2")
    await fire(db_pool, bus, "demo.burst", *({"n": i} for i in range(40)))
    done = await finished(db_pool, 40, "demo.quick")
    assert {x.status for x in done} == {S.COMPLETED}
    # created running: the insert and the start are one statement, so their history rows share a time
    created_running = await db_pool.fetchval(
        """SELECT count(*) FROM execution_history i JOIN execution_history s
             ON s.entity_id = i.entity_id AND s.operation = 'UPDATE' AND s.new_values->>'status' = 'scheduling'
           WHERE i.operation = 'INSERT' AND i.created = s.created AND i.entity_ref = 'demo.quick'"""
    )
    # all of them unless the machine stalled the executor long enough for it to take a batch
    # without free slots (0.5 s); taking every event at once started 2 of 40 so
    assert created_running >= 30, created_running


async def test_full_run_slots_slow_event_processing_down_without_stopping_it(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    """While the only slot runs a long action, new events still get their executions (queued
    `requested` for the slot), within about a second rather than at the action's end."""
    nap = await make_action(db_pool, "demo.nap", runner_type="builtin", entry_point="sleep")
    for trigger, seconds in (("demo.long", 10), ("demo.short", 0)):
        await make_rule(
            db_pool,
            f"demo.on_{trigger.split('.')[1]}",
            trigger=await make_trigger(db_pool, trigger),
            action=nap,
            action_params={"seconds": seconds},
        )
    await start_executor("ex-one-busy-slot", CONCURRENCY="1")
    await fire(db_pool, bus, "demo.long", {})
    await wait_for(lambda: _count_with(db_pool, "demo.nap", S.RUNNING, 1), 20, "the long action running")
    await fire(db_pool, bus, "demo.short", *({} for _ in range(3)))
    await wait_for(lambda: _count_with(db_pool, "demo.nap", S.REQUESTED, 3), 8, "3 executions queued")
    assert await _count_with(db_pool, "demo.nap", S.RUNNING, 1)  # the long action still holds the slot


async def _count_with(db: asyncpg.Pool, action_ref: str, status: ExecutionStatus, n: int) -> bool:
    return sum(x.status is status for x in await executions_of(db, action_ref)) == n
