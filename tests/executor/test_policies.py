"""Policies and retries end to end: concurrency (enqueue / cancel, per parameter group), rate
limits, and retries with backoff."""

from __future__ import annotations

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_executor.policies import PolicyEngine
from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.models import Execution
from attune_shared.repos import ExecutionRepository, NewExecution, PolicyRepository
from attune_shared.statuses import ExecutionStatus

from ..shared.factories import make_action, make_pack
from .conftest import StartExecutor
from .helpers import finished, request, status_of, wait_for


async def _is_running(db: asyncpg.Pool, x: Execution) -> bool:
    return (await status_of(db, x)).status is ExecutionStatus.RUNNING


async def _policy(db: asyncpg.Pool, ref: str, action_ref: str, **values: object) -> None:
    pack = await make_pack(db, ref.split(".")[0])
    await PolicyRepository(db).insert(
        {"ref": ref, "pack": pack.id, "pack_ref": pack.ref, "action_ref": action_ref, **values}
    )


def _overlaps(xs: list[Execution]) -> bool:
    spans = sorted((x.started_at, x.updated) for x in xs if x.started_at is not None)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


async def test_concurrency_enqueue_runs_one_at_a_time_in_order(
    db_pool: asyncpg.Pool, bus: Bus, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.slow", runner_type="builtin", entry_point="sleep")
    await _policy(
        db_pool, "demo.one_at_a_time", "demo.slow", concurrency_limit=1, concurrency_method="enqueue"
    )
    await start_executor()
    requested = [await request(db_pool, bus, "demo.slow", {"seconds": 0.3}) for _ in range(4)]
    done = await finished(db_pool, 4, timeout=20)
    assert [x.status for x in done] == [ExecutionStatus.COMPLETED] * 4
    assert not _overlaps(done)
    started = sorted(done, key=lambda x: x.started_at)  # type: ignore[arg-type, return-value]
    assert [x.id for x in started] == [x.id for x in requested]  # first in, first out


async def test_slot_holders_ending_together_refill_every_slot(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient
) -> None:
    """Found by the chaos soak: slot holders that end together all wake the same head (each reads
    it before it is admitted), so one slot of three was refilled and the queue ran one at a time
    from then on. The policy engine is driven as the scheduler drives it, on real servers."""
    await make_action(db_pool, "demo.slow", runner_type="builtin", entry_point="sleep")
    await _policy(db_pool, "demo.three", "demo.slow", concurrency_limit=3, concurrency_method="enqueue")
    policies = await PolicyRepository(db_pool).enabled_for_action("demo.slow")
    engine = PolicyEngine(db_pool, bus)
    xs = [
        await ExecutionRepository(db_pool).create(NewExecution(action_ref="demo.slow", config={}))
        for _ in range(6)
    ]
    await db_pool.execute("UPDATE execution SET status = 'scheduling'")
    outcomes = [(await engine.decide(x, policies)).outcome for x in xs]
    assert outcomes == ["admit"] * 3 + ["queue"] * 3
    wakes = await nats_client.subscribe(bus.spec.subjects.execution_requested)
    await db_pool.execute(
        "UPDATE execution SET status = 'completed' WHERE id = ANY($1::bigint[])", [x.id for x in xs[:3]]
    )
    for x in xs[:3]:  # the three end together: each wakes the head before it is admitted
        await engine.release(x, policies)
    by_id = {x.id: x for x in xs}
    while True:  # deliver the wake-ups as the scheduler would, until none comes
        try:
            msg = await wakes.next_msg(timeout=2)
        except TimeoutError:
            break
        woken = by_id[ExecutionRequested.model_validate_json(msg.data).execution_id]
        await engine.decide(woken, policies, queued_only=True)
    admitted = await db_pool.fetchval(
        "SELECT count(*) FROM policy_admission WHERE state = 'active' AND execution = ANY($1::bigint[])",
        [x.id for x in xs[3:]],
    )
    assert admitted == 3


async def test_concurrency_groups_by_parameters(
    db_pool: asyncpg.Pool, bus: Bus, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.slow", runner_type="builtin", entry_point="sleep")
    await _policy(
        db_pool,
        "demo.per_host",
        "demo.slow",
        concurrency_limit=1,
        concurrency_method="enqueue",
        concurrency_group_by=["host"],
    )
    await start_executor()
    for host in ("a", "b", "a", "b"):
        await request(db_pool, bus, "demo.slow", {"seconds": 0.5, "host": host})
    done = await finished(db_pool, 4, timeout=20)
    by_host = {h: [x for x in done if x.config["host"] == h] for h in ("a", "b")}
    assert not _overlaps(by_host["a"]) and not _overlaps(by_host["b"])
    assert _overlaps(by_host["a"][:1] + by_host["b"][:1])  # different hosts ran side by side


async def test_concurrency_cancel_and_rate_limit(
    db_pool: asyncpg.Pool, bus: Bus, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.slow", runner_type="builtin", entry_point="sleep")
    await make_action(db_pool, "demo.quick", runner_type="builtin", entry_point="noop")
    await _policy(db_pool, "demo.exclusive", "demo.slow", concurrency_limit=1, concurrency_method="cancel")
    await _policy(db_pool, "demo.two_a_minute", "demo.quick", rate_limit_max=2, rate_limit_window_seconds=60)
    await start_executor()
    first = await request(db_pool, bus, "demo.slow", {"seconds": 2})
    await wait_for(lambda: _is_running(db_pool, first), 10, "the first execution to run")
    for _ in range(2):
        await request(db_pool, bus, "demo.slow", {"seconds": 2})
    slow = await finished(db_pool, 3, "demo.slow", timeout=15)
    assert [x.status for x in slow] == [
        ExecutionStatus.COMPLETED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.CANCELLED,
    ]
    assert slow[0].id == first.id
    assert slow[1].result == {
        "succeeded": False,
        "cancelled": True,
        "error": "concurrency limit of policy demo.exclusive reached: 1 at a time",
        "policy": "demo.exclusive",
    }
    for _ in range(4):
        await request(db_pool, bus, "demo.quick")
    quick = await finished(db_pool, 4, "demo.quick", timeout=15)
    assert sorted(x.status for x in quick) == sorted(
        [ExecutionStatus.COMPLETED] * 2 + [ExecutionStatus.CANCELLED] * 2
    )
    cancelled = [x for x in quick if x.status is ExecutionStatus.CANCELLED]
    assert cancelled[0].result is not None
    assert (
        cancelled[0].result["error"]
        == "rate limit of policy demo.two_a_minute reached: 2 executions per 60 s"
    )


async def test_retries_with_backoff(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.flaky", runner_type="shell", max_retries=2)
    await start_executor(RETRY_BACKOFF="0.3")
    x = await request(db_pool, bus, "demo.flaky", {"cmd": "echo try; exit 1"}, max_retries=2)
    chain = await finished(db_pool, 3, timeout=20)
    assert [c.status for c in chain] == [ExecutionStatus.FAILED] * 3
    assert [c.retry_count for c in chain] == [0, 1, 2]
    assert [c.original_execution for c in chain] == [None, x.id, x.id]
    assert [c.retry_reason for c in chain] == [None, "failed", "failed"]
    assert chain[0].result is not None and chain[0].result["retry"]["execution"] == chain[1].id
    assert chain[2].result is not None and "retry" not in chain[2].result
    for previous, retry in zip(chain, chain[1:], strict=False):
        assert (
            retry.run_after is not None and retry.started_at is not None and previous.started_at is not None
        )
        assert retry.started_at >= retry.run_after
        backoff = 0.3 * 2**previous.retry_count  # jittered down to half of it at most
        assert (retry.started_at - previous.started_at).total_seconds() >= backoff / 2


async def test_timeouts_are_retried_too(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await start_executor()
    x = await request(db_pool, bus, "core.sleep", {"seconds": 5}, timeout_seconds=1, max_retries=1)
    chain = await finished(db_pool, 2, timeout=20)
    assert [c.status for c in chain] == [ExecutionStatus.TIMEOUT, ExecutionStatus.TIMEOUT]
    assert chain[1].original_execution == x.id and chain[1].retry_reason == "timeout"


async def test_queued_executions_survive_an_executor_crash(
    db_pool: asyncpg.Pool, bus: Bus, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.slow", runner_type="builtin", entry_point="sleep")
    await _policy(
        db_pool, "demo.one_at_a_time", "demo.slow", concurrency_limit=1, concurrency_method="enqueue"
    )
    crashing = await start_executor("ex-crashing")
    first, *queued = [await request(db_pool, bus, "demo.slow", {"seconds": s}) for s in (60, 0.3, 0.3)]
    await wait_for(lambda: _is_running(db_pool, first), 10, "the first execution to run")

    async def waiting() -> bool:
        statuses = [(await status_of(db_pool, x)).status for x in queued]
        return statuses == [ExecutionStatus.SCHEDULING] * len(queued)

    await wait_for(waiting, 10, "the others to wait in the queue")
    await crashing.kill()
    await start_executor("ex-rescuer")
    done = await finished(db_pool, 3, timeout=20)
    assert [x.status for x in done] == [
        ExecutionStatus.ABANDONED,
        ExecutionStatus.COMPLETED,
        ExecutionStatus.COMPLETED,
    ]
    assert not _overlaps(done[1:])
    assert done[1].started_at < done[2].started_at  # type: ignore[operator]
