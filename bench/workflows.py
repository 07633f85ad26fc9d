"""The workflow figure: what the engine adds per task transition.

A 20-task sequential workflow of ``core.noop`` (bench/pack) against 20 bare ``core.noop``
executions, both requested directly (no rule). At low load (one at a time), in rounds of 20 bare
noops then one workflow (so that a noisy machine drifts alike for both): per round,
``(the workflow's duration - the 20 noops' durations) / 20``. At saturation (everything requested
at once): the time per task of the workflows' tasks minus the time per bare noop execution, from
the wall-clock rates of each burst. Durations are from the rows: ``created`` to the
``completed`` history row.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg

from attune_shared.bus import BusSpec, ExecutionRequested
from attune_shared.models import Execution
from attune_shared.packs import register_pack
from attune_shared.repos import ActionRepository, ExecutionRepository, NewExecution

from .pipeline import Stack, connect_nats, percentiles

PACK_DIR = Path(__file__).parent / "pack"
WORKFLOW = "benchwf.noop20"
TASKS = 20

_DURATIONS = """SELECT x.id, extract(epoch FROM (h.created - x.created)) * 1000 AS ms
FROM execution x JOIN execution_history h ON h.entity_id = x.id AND h.new_values->>'status' = 'completed'
WHERE x.id = ANY($1::bigint[])"""


async def request(pool: asyncpg.Pool, st: Stack, action_ref: str, count: int) -> list[Execution]:
    """``count`` executions of ``action_ref`` created at once and their wake-ups published (as the
    API does)."""
    action = await ActionRepository(pool).get_by_ref(action_ref)
    assert action is not None, action_ref
    rows = await ExecutionRepository(pool).create_many(
        [NewExecution(action_ref=action.ref, action=action.id) for _ in range(count)]
    )
    spec = BusSpec(st.prefix)
    nc = await connect_nats(st.nats_url)
    try:
        js = nc.jetstream()
        semaphore = asyncio.Semaphore(256)

        async def one(x: Execution) -> None:
            async with semaphore:
                body = ExecutionRequested(execution_id=x.id, created=x.created, action_ref=x.action_ref)
                await js.publish(
                    spec.subjects.execution_requested,
                    body.model_dump_json().encode(),
                    stream=spec.work_stream,
                    timeout=30,
                )

        await asyncio.gather(*(one(x) for x in rows))
    finally:
        await nc.close()
    return rows


async def finished(pool: asyncpg.Pool, xs: list[Execution], timeout: float = 600) -> float:
    """Wait until every execution of ``xs`` is terminal; the time (``time.time()``) they were."""
    ids = [x.id for x in xs]
    deadline = time.time() + timeout
    while time.time() < deadline:
        open_ = await pool.fetchval(
            "SELECT count(*) FROM execution WHERE id = ANY($1::bigint[]) "
            "AND status NOT IN ('completed', 'failed', 'cancelled', 'timeout', 'abandoned')",
            ids,
        )
        if open_ == 0:
            return time.time()
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{len(ids)} executions did not finish within {timeout:.0f} s")


async def durations(pool: asyncpg.Pool, xs: list[Execution]) -> list[float]:
    """ms from each execution's creation to its ``completed`` history row."""
    return [float(r["ms"]) for r in await pool.fetch(_DURATIONS, [x.id for x in xs])]


async def one_at_a_time(pool: asyncpg.Pool, st: Stack, action_ref: str, runs: int) -> list[float]:
    done: list[Execution] = []
    for _ in range(runs):
        xs = await request(pool, st, action_ref, 1)
        await finished(pool, xs)
        done += xs
    return await durations(pool, done)


async def burst(pool: asyncpg.Pool, st: Stack, action_ref: str, count: int) -> tuple[list[Execution], float]:
    """``count`` executions at once; the wall-clock seconds until the last one ended."""
    started = time.time()
    xs = await request(pool, st, action_ref, count)
    return xs, await finished(pool, xs) - started


async def correctness(pool: asyncpg.Pool, workflows: list[Execution]) -> dict[str, int]:
    """Each workflow completed with exactly its 20 tasks, each completed, each dispatched once."""
    ids = [x.id for x in workflows]
    completed = await pool.fetchval(
        "SELECT count(*) FROM execution WHERE id = ANY($1::bigint[]) AND status = 'completed'", ids
    )
    tasks = await pool.fetch(
        "SELECT parent, count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS ok, "
        "count(DISTINCT task_name) AS names FROM execution WHERE parent = ANY($1::bigint[]) GROUP BY parent",
        ids,
    )
    dispatches = await pool.fetchval(
        "SELECT count(*) - count(DISTINCT (d.workflow_execution, d.dispatch_key)) FROM workflow_task_dispatch d "
        "JOIN workflow_execution w ON w.id = d.workflow_execution WHERE w.execution = ANY($1::bigint[])",
        ids,
    )
    extra = sum(max(r["n"] - TASKS, 0) + (r["n"] - r["names"]) for r in tasks) + int(dispatches)
    missing = sum(max(TASKS - r["ok"], 0) for r in tasks) + TASKS * (len(ids) - len(tasks))
    return {
        "workflows": len(ids),
        "completed": int(completed),
        "tasks": sum(int(r["n"]) for r in tasks),
        "duplicates": extra,
        "lost": (len(ids) - int(completed)) + missing,
    }


async def measure(pool: asyncpg.Pool, st: Stack, *, low_runs: int, saturation: int) -> dict[str, Any]:
    """The figure (module docstring), with its correctness over every workflow it ran."""
    await register_pack(pool, PACK_DIR)
    # warm up: caches, spec parsing, connections
    await finished(pool, await request(pool, st, WORKFLOW, 1))
    noop_ms: list[float] = []
    workflow_ms: list[float] = []
    per_transition: list[float] = []
    low: list[Execution] = []
    for _ in range(low_runs):
        noops = await one_at_a_time(pool, st, "core.noop", TASKS)
        xs = await request(pool, st, WORKFLOW, 1)
        await finished(pool, xs)
        [ms] = await durations(pool, xs)
        noop_ms += noops
        workflow_ms.append(ms)
        per_transition.append((ms - sum(noops)) / TASKS)
        low += xs

    _, noop_seconds = await burst(pool, st, "core.noop", saturation * TASKS)
    busy, workflow_seconds = await burst(pool, st, WORKFLOW, saturation)
    noop_rate = saturation * TASKS / noop_seconds
    task_rate = saturation * TASKS / workflow_seconds
    return {
        "low_load": {
            "workflows": low_runs,
            "noop_ms": percentiles(noop_ms),
            "workflow_ms": percentiles(workflow_ms),
            "per_transition_ms": percentiles(per_transition),
        },
        "saturation": {
            "workflows": saturation,
            "noop_per_s": round(noop_rate, 1),
            "workflow_tasks_per_s": round(task_rate, 1),
            "per_transition_ms": round(1000 / task_rate - 1000 / noop_rate, 2),
            "workflow_ms": percentiles(await durations(pool, busy)),
        },
        "correctness": await correctness(pool, low + busy),
    }
