"""Servers for a benchmark run: the configured ones (ATTUNE__DATABASE__URL / ATTUNE__NATS__URL), or
embedded ones started here (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from attune_shared.db import connect
from attune_shared.embedded import NatsServer, PostgresServer
from attune_shared.migrations import migrate
from attune_shared.settings import DatabaseSettings


@dataclass
class Servers:
    database_server_url: str
    nats_url: str
    embedded: bool
    #: fsync and synchronous_commit on (what production runs); False only for the fast setting
    durable: bool
    #: the embedded servers' process ids, by name, for their CPU time
    pids: dict[str, int]


@asynccontextmanager
async def servers(durable: bool = True) -> AsyncIterator[Servers]:
    """The configured servers, or embedded ones: PostgreSQL durable unless ``durable=False`` (the
    fast setting: fsync, synchronous_commit and full-page writes off, which loses committed
    transactions in a crash), NATS with file storage either way (the streams' own setting)."""
    db_url = os.environ.get("ATTUNE__DATABASE__URL")
    nats_url = os.environ.get("ATTUNE__NATS__URL")
    started: list[NatsServer | PostgresServer] = []
    root = Path(tempfile.mkdtemp(prefix="attune-bench-"))
    try:
        if not nats_url:
            nats = NatsServer(root / "nats")
            nats.start()
            started.append(nats)
            nats_url = nats.url
        if not db_url:
            pg = PostgresServer(root / "pg", durable=durable)
            pg.start()
            started.append(pg)
            db_url = pg.url
        pids = {server.name: server.process.pid for server in started if server.process is not None}
        yield Servers(db_url, nats_url, embedded=bool(started), durable=durable, pids=pids)
    finally:
        for server in reversed(started):
            server.stop()
    # reached only when the run ended well: after a failure the data and logs are kept for a look
    shutil.rmtree(root, ignore_errors=True)  # a PostgreSQL data directory is ~100 MB


def with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database on the server, dropped afterwards."""
    name = f"attune_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server_url, name)
    conn = await connect(DatabaseSettings(url=url))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return False
