"""Cancellation: before a run starts the execution is cancelled at once; while it runs, the
executor running it kills the process group and records ``cancelled``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg

from attune_shared import executions
from attune_shared.bus import Bus
from attune_shared.repos import ExecutionHistoryRepository
from attune_shared.statuses import ExecutionStatus

from .conftest import StartExecutor
from .helpers import finished, request, status_of, wait_for


async def _running(db: asyncpg.Pool, x) -> bool:  # type: ignore[no-untyped-def]
    return (await status_of(db, x)).status is ExecutionStatus.RUNNING


async def test_cancel_before_it_runs(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    x = await request(db_pool, bus, "core.noop")
    outcome = await executions.cancel(db_pool, bus, x.id)
    assert outcome is not None and outcome.outcome == "cancelled"
    await start_executor()
    after = await request(db_pool, bus, "core.noop")  # processed after the cancelled one's message
    await wait_for(lambda: _completed(db_pool, after), 10, "the next execution")
    cancelled = await status_of(db_pool, x)
    assert (
        cancelled.status is ExecutionStatus.CANCELLED
        and cancelled.worker is None
        and cancelled.started_at is None
    )
    assert cancelled.result == executions.cancelled_result()


async def _completed(db: asyncpg.Pool, x) -> bool:  # type: ignore[no-untyped-def]
    return (await status_of(db, x)).status is ExecutionStatus.COMPLETED


async def test_cancel_while_it_runs_kills_the_process(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor, tmp_path: Path
) -> None:
    await start_executor()
    pidfile = tmp_path / "pid"
    shell = await request(db_pool, bus, "core.local", {"cmd": f"echo $$ > {pidfile}; echo before; sleep 60"})
    builtin = await request(db_pool, bus, "core.sleep", {"seconds": 60})
    await wait_for(lambda: _running(db_pool, shell), 10, "the shell action to run")
    await wait_for(lambda: _running(db_pool, builtin), 10, "the sleep action to run")
    await wait_for(lambda: asyncio.to_thread(_has_text, pidfile), 5, "the pid file")
    for x in (shell, builtin):
        outcome = await executions.cancel(db_pool, bus, x.id)
        assert outcome is not None and outcome.outcome == "canceling"
    done = {x.id: x for x in await finished(db_pool, 2, timeout=10)}
    for x in (shell, builtin):
        row = done[x.id]
        assert row.status is ExecutionStatus.CANCELLED and row.result is not None
        assert row.result["cancelled"] is True and row.result["succeeded"] is False
        assert row.result["error"] == "cancelled by user" and row.result["duration_ms"] < 5000
        history = await ExecutionHistoryRepository(db_pool).for_entity(x.id)
        assert [h.new_values["status"] for h in reversed(history) if "status" in h.changed_fields][-3:] == [
            "running",
            "canceling",
            "cancelled",
        ]
    assert done[shell.id].result["stdout"] == "before"  # type: ignore[index]  # StackStorm strips one newline
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, 0)
        raise AssertionError(f"process {pid} survived the cancel")
    except ProcessLookupError:
        pass


async def test_cancel_escalates_to_sigkill_when_sigterm_is_ignored(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor, tmp_path: Path
) -> None:
    await start_executor(KILL_GRACE="1")
    pidfile = tmp_path / "pid"
    cmd = f"trap 'echo ignored TERM' TERM; echo $$ > {pidfile}; while true; do sleep 0.1; done"
    x = await request(db_pool, bus, "core.local", {"cmd": cmd})
    await wait_for(lambda: asyncio.to_thread(_has_text, pidfile), 10, "the pid file")
    outcome = await executions.cancel(db_pool, bus, x.id)
    assert outcome is not None and outcome.outcome == "canceling"
    [row] = await finished(db_pool, 1, timeout=15)
    assert row.status is ExecutionStatus.CANCELLED and row.result is not None
    assert "ignored TERM" in row.result["stdout"]  # SIGTERM came first, and was not enough
    pid = int(pidfile.read_text())
    await wait_for(lambda: asyncio.to_thread(_gone, pid), 5, f"process {pid} to be killed")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _has_text(path: Path) -> bool:
    return path.exists() and path.read_text().strip() != ""
