"""Services as real processes in tests (see :class:`attune_shared.processes.ServiceProcess`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from attune_shared.processes import ServiceProcess, console_script
from attune_shared.settings import Settings
from attune_shared.testing.hooks import failed


def env_for(settings: Settings) -> dict[str, str]:
    """Environment of a service process configured like ``settings`` (no other ``ATTUNE__`` variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    env.update(
        {
            "ATTUNE__ENVIRONMENT": settings.environment,
            "ATTUNE__DATABASE__URL": settings.database.url,
            "ATTUNE__NATS__URL": settings.nats.url,
            "ATTUNE__NATS__PREFIX": settings.nats.prefix,
            "ATTUNE__NATS__REPLICAS": str(settings.nats.replicas),
            "ATTUNE__SECURITY__SECRET_KEY": settings.security.secret_key.get_secret_value(),
            "ATTUNE__PACKS__HOME": str(settings.packs.home),
            "ATTUNE__LOG__FORMAT": "json",
            "ATTUNE__LOG__LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("ATTUNE_CONFIG", None)
    return env


@pytest.fixture
def service_env(settings: Settings) -> dict[str, str]:
    """Environment for a service process configured like :func:`settings`."""
    return env_for(settings)


SpawnService = Callable[..., Awaitable[ServiceProcess]]


@pytest_asyncio.fixture
async def spawn_service(
    service_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[SpawnService]:
    """Factory: ``await spawn_service("attune-sensor", env={...}, wait=True)``; all are killed at teardown."""
    started: list[ServiceProcess] = []

    async def spawn(
        script: str, *args: str, env: dict[str, str] | None = None, wait: bool = True, timeout: float = 30.0
    ) -> ServiceProcess:
        index = sum(1 for s in started if s.name == script)
        proc = ServiceProcess(
            script,
            [console_script(script), *args],
            {**service_env, **(env or {})},
            tmp_path / f"{script}-{index}.log",
        ).start()
        started.append(proc)
        if wait:
            await proc.wait_ready(timeout)
        return proc

    try:
        yield spawn
    finally:
        for proc in started:
            await proc.kill()
        if failed(request):
            for proc in started:
                print(f"\n----- {proc.name} ({proc.log_path}) -----\n{proc.output()[-6000:]}")
