"""The pytest plugin: real PostgreSQL, NATS and TimescaleDB for every test, never mocks.

Servers come from ``ATTUNE_TEST_DATABASE_URL`` / ``ATTUNE_TEST_NATS_URL`` / ``ATTUNE_TEST_TIMESCALE_URL``
when set, otherwise they are started as local processes (see :mod:`attune_shared.embedded`).
Each test gets its own database, cloned from a template migrated once per session, and its own
NATS subject prefix (so its own streams).

Fixtures: ``postgres_server_url``, ``database_url``, ``db_pool``, ``nats_url``, ``nats_prefix``,
``nats_client``, ``bus``, ``settings``, ``service_env``, ``spawn_service``, ``timescale_url``, ``timescale_conn``,
plus ``owned_nats`` / ``owned_postgres`` (private servers a fault test may stop, kill and restart)
and ``owned_database`` (migrated, on ``owned_postgres``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus, bus_spec, make_broker, provision, stop_broker
from attune_shared.db import create_pool, init_connection
from attune_shared.embedded import NatsServer, PostgresServer, ServerProcess
from attune_shared.migrations import load_migrations, migrate
from attune_shared.settings import DatabaseSettings, NatsSettings, Settings
from attune_shared.testing.services import ServiceProcess, console_script
from attune_shared.testing.timescale import TimescaleWasmServer

TEST_DATABASE_URL_ENV = "ATTUNE_TEST_DATABASE_URL"
TEST_NATS_URL_ENV = "ATTUNE_TEST_NATS_URL"
TEST_TIMESCALE_URL_ENV = "ATTUNE_TEST_TIMESCALE_URL"
RUN_ID = uuid.uuid4().hex[:8]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--timescale-required",
        action="store_true",
        help="fail the run unless tests marked `timescale` ran and passed (CI sets it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_timescale_selected] = 0
    config.stash[_timescale_passed] = 0
    config.stash[_timescale_skipped] = 0


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_timescale_selected] = sum(
        1 for item in session.items if item.get_closest_marker("timescale") is not None
    )


_timescale_selected = pytest.StashKey[int]()
_timescale_passed = pytest.StashKey[int]()
_timescale_skipped = pytest.StashKey[int]()
_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:  # noqa: ARG001
    report: pytest.TestReport = yield  # type: ignore[assignment]
    item.stash.setdefault(_report_key, {})[report.when] = report
    if item.get_closest_marker("timescale") is not None:
        if report.skipped:
            item.config.stash[_timescale_skipped] += 1
        elif report.when == "call" and report.passed:
            item.config.stash[_timescale_passed] += 1
    return report  # type: ignore[return-value]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:  # noqa: ARG001
    config = session.config
    # a run narrowed with -k or a path to other tests has nothing to prove about the tier
    if not config.getoption("--timescale-required") or not config.stash[_timescale_selected]:
        return
    skipped, passed = config.stash[_timescale_skipped], config.stash[_timescale_passed]
    if skipped or not passed:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"--timescale-required: {passed} timescale tests passed, {skipped} skipped; the tier must run",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test has failed so far (for dumping logs at teardown)."""
    reports = request.node.stash.get(_report_key, {})
    return any(r.failed for r in reports.values())


# -- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    """Data of the session's servers, outside pytest's basetemp: concurrent pytest runs rotate
    (delete) each other's old basetemps, which must not pull a database from under a session."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-servers-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _url_or_server(env_var: str, server: Callable[[], ServerProcess]) -> Iterator[str]:
    """The URL in ``env_var`` when set, else that of ``server()`` started for the session."""
    url = os.environ.get(env_var)
    if url:
        yield url
        return
    started = server()
    started.start()
    try:
        yield started.url
    finally:
        started.stop()


@pytest.fixture(scope="session")
def postgres_server_url(servers_dir: Path) -> Iterator[str]:
    """A PostgreSQL server URL with rights to create databases."""
    yield from _url_or_server(
        TEST_DATABASE_URL_ENV, lambda: PostgresServer(servers_dir / "postgres", durable=False)
    )


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    """A NATS server with JetStream, shared by the session (tests separate by subject prefix)."""
    yield from _url_or_server(TEST_NATS_URL_ENV, lambda: NatsServer(servers_dir / "nats"))


@pytest.fixture
def owned_nats() -> Iterator[NatsServer]:
    """A private NATS server for a fault test to stop, kill and restart."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-nats-"))
    server = NatsServer(path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def owned_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for a fault test to stop, kill and restart (outside pytest's
    basetemp, whose permissions a concurrent pytest session may reset)."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-pg-"))
    server = PostgresServer(path, durable=False)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(path, ignore_errors=True)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest_asyncio.fixture
async def owned_database(owned_postgres: PostgresServer) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A migrated database on :func:`owned_postgres` and a pool on it. Commits are synchronous there:
    a test that kills the server must not lose rows a service already acknowledged."""
    admin = await _admin_connect(owned_postgres.url)
    try:
        await admin.execute("CREATE DATABASE attune")
        await admin.execute("ALTER DATABASE attune SET synchronous_commit = on")
    finally:
        await admin.close()
    url = owned_postgres.url_for("attune")
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(DatabaseSettings(url=url), application_name="pytest", min_size=1, max_size=3)
    try:
        yield url, pool
    finally:
        pool.terminate()


async def _admin_connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=10)


@pytest_asyncio.fixture(scope="session")
async def template_database(postgres_server_url: str) -> str:
    """A database migrated once per session (per migration set), cloned for each test."""
    migrations = load_migrations()
    digest = hashlib.sha256("".join(m.checksum for m in migrations).encode()).hexdigest()[:12]
    name = f"attune_tpl_{digest}"
    admin = await _admin_connect(postgres_server_url)
    try:
        await admin.execute("SELECT pg_advisory_lock(8675309)")
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return name
        building = f"{name}_build_{RUN_ID}"
        await admin.execute(f'CREATE DATABASE "{building}"')
        conn = await asyncpg.connect(with_database(postgres_server_url, building))
        try:
            await migrate(conn, migrations)
        finally:
            await conn.close()
        await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        await admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
        return name
    finally:
        await admin.execute("SELECT pg_advisory_unlock(8675309)")
        await admin.close()


@pytest_asyncio.fixture
async def database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test only."""
    name = f"attune_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    admin = await _admin_connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_server_url, name)
    finally:
        admin = await _admin_connect(postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def nats_prefix() -> str:
    """A subject prefix (and so stream names) unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(database_url: str, nats_url: str, nats_prefix: str) -> Settings:
    """Settings pointing at this test's database and prefix."""
    return Settings(
        environment="test",
        database=DatabaseSettings(url=database_url, startup_wait=5),
        nats=NatsSettings(url=nats_url, prefix=nats_prefix),
        security={"secret_key": "test-secret-" + secrets.token_hex(8)},
    )


@pytest_asyncio.fixture
async def db_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database, application_name="pytest", min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture
async def nats_client(nats_url: str, nats_prefix: str) -> AsyncIterator[NatsClient]:
    """A NATS connection; at teardown every stream and KV bucket of this test's prefix is deleted."""
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await delete_prefix_streams(nc, nats_prefix)
        await nc.close()


async def delete_prefix_streams(nc: NatsClient, prefix: str) -> None:
    """Delete the streams (``<PREFIX>_*``) and KV buckets (``KV_<prefix>_*``) of a prefix."""
    jsm = nc.jsm()
    for info in await jsm.streams_info():
        name = info.config.name or ""
        if name.startswith(f"{prefix.upper()}_") or name.startswith(f"KV_{prefix}_"):
            await jsm.delete_stream(name)


@pytest_asyncio.fixture
async def bus(settings: Settings, nats_client: NatsClient) -> AsyncIterator[Bus]:
    """A connected :class:`~attune_shared.bus.Bus` for this test's prefix, topology provisioned."""
    spec = bus_spec(settings.nats)
    await provision(nats_client, spec)
    broker = make_broker(settings.nats, "pytest")
    await broker.connect()
    try:
        yield Bus(broker, spec)
    finally:
        await stop_broker(broker)


# -- services as processes ------------------------------------------------------------------------


def env_for(settings: Settings) -> dict[str, str]:
    """Environment of a service process configured like ``settings`` (no other ``ATTUNE__`` variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    env.update(
        {
            "ATTUNE__ENVIRONMENT": settings.environment,
            "ATTUNE__DATABASE__URL": settings.database.url,
            "ATTUNE__NATS__URL": settings.nats.url,
            "ATTUNE__NATS__PREFIX": settings.nats.prefix,
            "ATTUNE__SECURITY__SECRET_KEY": settings.security.secret_key.get_secret_value(),
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


# -- TimescaleDB tier ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def timescale_url(servers_dir: Path) -> Iterator[str]:
    """A TimescaleDB: ``ATTUNE_TEST_TIMESCALE_URL``, else the WASM build under Node (never skipped)."""
    yield from _url_or_server(TEST_TIMESCALE_URL_ENV, lambda: TimescaleWasmServer(servers_dir / "timescale"))


@pytest_asyncio.fixture(scope="session")
async def timescale_conn(timescale_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The session's one connection to TimescaleDB, migrated (with the extension required)."""
    conn = await asyncpg.connect(timescale_url, timeout=30)
    await init_connection(conn)
    # the WASM server ignores startup parameters, so the search path is set explicitly
    await conn.execute("SET search_path = attune, public")
    try:
        await migrate(conn, timescale_required=True)
        yield conn
    finally:
        conn.terminate()  # a graceful close can hang on the WASM server


def make_settings(**sections: Any) -> Settings:
    """Settings for a unit test that needs no servers."""
    return Settings(environment="test", security={"secret_key": "unit-test-secret"}, **sections)
