"""A real ``attune-api`` process per test module (and helpers), shared by tests/api and tests/cli.

The module gets its own database (cloned from the migrated template, the core pack registered)
and its own NATS prefix; the API process listens on a free port it reports in its ready line.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
import pytest_asyncio

from attune_shared.apikeys import create_api_key
from attune_shared.db import connect
from attune_shared.packs import register_core_pack
from attune_shared.processes import ServiceProcess, console_script
from attune_shared.settings import Settings
from attune_shared.testing.bus import delete_prefix_streams
from attune_shared.testing.databases import with_database
from attune_shared.testing.hooks import failed
from attune_shared.testing.ids import RUN_ID
from attune_shared.testing.settings import settings_for
from attune_shared.testing.spawning import env_for

ROLES = ("admin", "operator", "viewer")


def ready_port(proc: ServiceProcess) -> int:
    """The port an ``attune-api`` process reported in its ``service.ready`` line."""
    for line in proc.output().splitlines():
        if '"service.ready"' in line:
            return int(json.loads(line)["port"])
    raise AssertionError(f"{proc.name} logged no ready line:\n{proc.output()[-3000:]}")


async def start_api(env: dict[str, str], log_path: Path, timeout: float = 60.0) -> tuple[ServiceProcess, str]:
    proc = ServiceProcess(
        "attune-api", [console_script("attune-api")], {**env, "ATTUNE__API__PORT": "0"}, log_path
    )
    proc.start()
    try:
        await proc.wait_ready(timeout)
    except BaseException:
        await proc.kill()
        raise
    return proc, f"http://127.0.0.1:{ready_port(proc)}"


@dataclass
class Api:
    """A running API: its URL, settings, process and one API key per role."""

    url: str
    settings: Settings
    process: ServiceProcess
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return env_for(self.settings)

    def client(self, role: str | None = "admin", **kwargs: object) -> httpx.AsyncClient:
        """An HTTP client authenticated with the role's key (``None``: no credentials)."""
        headers = {} if role is None else {"X-API-Key": self.keys[role]}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    async def db(self) -> asyncpg.Connection:
        return await connect(self.settings.database, application_name="pytest")


async def new_database(postgres_server_url: str, template_database: str) -> str:
    name = f"attune_m_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    return name


async def drop_database(postgres_server_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_server_url, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def make_keys(settings: Settings) -> dict[str, str]:
    conn = await connect(settings.database, application_name="pytest")
    try:
        await register_core_pack(conn)
        return {role: (await create_api_key(conn, role=role, login=f"{role}-user")).key for role in ROLES}  # type: ignore[arg-type]
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module")
async def api(
    request: pytest.FixtureRequest,
    postgres_server_url: str,
    template_database: str,
    nats_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """One API process for the whole test module, on its own database and NATS prefix.

    A module may set ``API_ENV = {...}`` to add environment variables (settings) for its process.
    """
    database = await new_database(postgres_server_url, template_database)
    prefix = f"m{uuid.uuid4().hex[:10]}"
    settings = settings_for(
        with_database(postgres_server_url, database), nats_url, prefix, tmp_path_factory.mktemp("packs-home")
    )
    proc: ServiceProcess | None = None
    try:
        keys = await make_keys(settings)
        env = {**env_for(settings), **getattr(request.module, "API_ENV", {})}
        proc, url = await start_api(env, tmp_path_factory.mktemp("api") / "attune-api.log")
        yield Api(url, settings, proc, keys)
    finally:
        if proc is not None:
            await proc.kill()
        with contextlib.suppress(Exception):
            nc = await nats.connect(nats_url, connect_timeout=5)
            try:
                await delete_prefix_streams(nc, prefix)
            finally:
                await nc.close()
        await drop_database(postgres_server_url, database)


@pytest_asyncio.fixture
async def services(
    api: Api, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[ServiceProcess]]]:
    """Factory starting other services (``await services("attune-executor")``) on the module API's
    database and prefix; all are killed at the end of the test (their logs printed if it failed)."""
    started: list[ServiceProcess] = []

    async def start(script: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> ServiceProcess:
        proc = ServiceProcess(
            script,
            [console_script(script)],
            {**api.env, **(env or {})},
            tmp_path / f"{script}-{len(started)}.log",
        )
        started.append(proc.start())
        await proc.wait_ready(timeout)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.kill()
        if failed(request):
            for proc in started:
                print(f"\n----- {proc.name} ({proc.log_path}) -----\n{proc.output()[-6000:]}")
            print(f"\n----- attune-api -----\n{api.process.output()[-6000:]}")


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    """Assert a problem+json response with ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:attune:problem:")
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body
