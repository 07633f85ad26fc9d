"""Startup checks that the database matches the code: migrated, and every repository's columns exist."""

from __future__ import annotations

import asyncpg

from attune_shared.constants import DB_SCHEMA
from attune_shared.errors import SchemaMismatchError, TimescaleRequiredError
from attune_shared.migrations import check_postgres_version, ensure_migrated, require_timescale
from attune_shared.repos import ALL_REPOSITORIES


async def table_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """Column names of ``attune.<table>`` in table order."""
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position",
        DB_SCHEMA,
        table,
    )
    return [r["column_name"] for r in rows]


async def verify_repositories(conn: asyncpg.Connection) -> None:
    """Raise :class:`SchemaMismatchError` naming the model, field and table of the first mismatch."""
    for repo in ALL_REPOSITORIES:
        actual = await table_columns(conn, repo.table)
        if not actual:
            raise SchemaMismatchError(f"table {DB_SCHEMA}.{repo.table} does not exist; run `attune migrate`")
        missing = [c for c in repo.columns if c not in actual]
        if missing:
            raise SchemaMismatchError(
                f"model {repo.model.__name__} (used by {repo.__name__}) has field {missing[0]!r}, "
                f"but table {DB_SCHEMA}.{repo.table} has no such column"
            )


async def verify_hypertables(conn: asyncpg.Connection) -> None:
    """Raise :class:`TimescaleRequiredError` unless TimescaleDB is installed and ``event`` is a
    hypertable (a database migrated before the extension was there is not)."""
    await require_timescale(conn, True)
    if not await conn.fetchval(
        "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = 'event'",
        DB_SCHEMA,
    ):
        raise TimescaleRequiredError(
            f"TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true) but {DB_SCHEMA}.event is not a "
            "hypertable: the database was migrated without the extension"
        )


async def verify_database(conn: asyncpg.Connection, *, timescale_required: bool = False) -> None:
    """Everything a service checks before it starts work."""
    await check_postgres_version(conn)
    await ensure_migrated(conn)
    await verify_repositories(conn)
    if timescale_required:
        await verify_hypertables(conn)
