"""Databases: a migrated template per session, cloned for every test; the TimescaleDB tier's connection."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio

from attune_shared.db import create_pool, init_connection
from attune_shared.embedded import PostgresServer
from attune_shared.migrations import load_migrations, migrate
from attune_shared.settings import DatabaseSettings, Settings
from attune_shared.testing.ids import RUN_ID, unique


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
    name = unique("attune_t")
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


@pytest_asyncio.fixture
async def db_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database, application_name="pytest", min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


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
