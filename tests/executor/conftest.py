"""Executor tests: real PostgreSQL and NATS, executors as real processes, short timings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

from attune_shared.bus import Bus
from attune_shared.packs import register_core_pack
from attune_shared.processes import ServiceProcess
from attune_shared.testing.spawning import SpawnService

#: Timings short enough for tests (see ExecutorSettings for what each means).
FAST = {
    "ATTUNE__EXECUTOR__HEARTBEAT_INTERVAL": "0.3",
    "ATTUNE__EXECUTOR__WORKER_TIMEOUT": "1.5",
    "ATTUNE__EXECUTOR__MAINTENANCE_INTERVAL": "0.3",
    "ATTUNE__EXECUTOR__RECONCILE_AFTER": "1",
    "ATTUNE__EXECUTOR__CACHE_TTL": "0.5",
    "ATTUNE__EXECUTOR__KILL_GRACE": "0.5",
    "ATTUNE__EXECUTOR__SHUTDOWN_GRACE": "5",
    "ATTUNE__EXECUTOR__CANCEL_CHECK_INTERVAL": "0.5",
    "ATTUNE__EXECUTOR__RETRY_BACKOFF": "0.2",
}

StartExecutor = Callable[..., Awaitable[ServiceProcess]]


@pytest.fixture
def start_executor(spawn_service: SpawnService, bus: Bus) -> StartExecutor:
    """Factory: ``await start_executor("ex-1", CONCURRENCY="4")`` starts an executor process (keyword
    arguments are executor settings, ``env`` other variables) and waits until it consumes."""

    async def start(name: str = "ex-0", env: dict[str, str] | None = None, **settings: str) -> ServiceProcess:
        full = {**FAST, "ATTUNE__EXECUTOR__NAME": name, **(env or {})}
        full.update({f"ATTUNE__EXECUTOR__{k}": v for k, v in settings.items()})
        return await spawn_service("attune-executor", env=full)

    return start


@pytest_asyncio.fixture
async def core(db_pool: asyncpg.Pool) -> None:
    """The bundled core pack, registered."""
    await register_core_pack(db_pool)
