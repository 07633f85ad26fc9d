"""The migration runner: ordered plain-SQL files, checksummed, applied under an advisory lock.

A file is ``NNNN_name.sql``. A header line ``-- attune:requires timescaledb`` applies it only where
the TimescaleDB extension is installed; ``-- attune:unless timescaledb`` only where it is not. A
conditional file that does not apply is left pending, so installing TimescaleDB later and migrating
again upgrades the database. Each file runs in its own transaction and is recorded in
``attune.schema_migrations`` with its SHA-256; a recorded file whose content changed is an error.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg

from attune_shared.constants import (
    DB_SCHEMA,
    MIGRATION_LOCK_KEY,
    MIGRATIONS_DIR,
    MIN_POSTGRES_VERSION,
    MIN_TIMESCALEDB_VERSION,
)
from attune_shared.errors import MigrationError, SchemaMismatchError, ServerSetupError, TimescaleRequiredError

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DIRECTIVE_RE = re.compile(r"^--\s*attune:(requires|unless)\s+timescaledb\s*$", re.MULTILINE)

Condition = Literal["timescaledb", "plain"] | None


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path
    sql: str
    checksum: str
    condition: Condition = None

    @property
    def filename(self) -> str:
        return self.path.name

    def applies(self, timescale: bool) -> bool:
        """Whether this file is meant for a database with (or without) TimescaleDB."""
        if self.condition == "timescaledb":
            return timescale
        if self.condition == "plain":
            return not timescale
        return True


@dataclass
class MigrationReport:
    """What :func:`migrate` did."""

    timescale: bool
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    #: why TimescaleDB, present on the server, was not used (one line each)
    warnings: list[str] = field(default_factory=list)


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Read and order the migration files; raise :class:`MigrationError` on a misnamed or duplicate file."""
    directory = directory or MIGRATIONS_DIR
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is also used by {found[version].path.name}")
        sql = path.read_text()
        directive = _DIRECTIVE_RE.search(sql)
        condition: Condition = None
        if directive:
            condition = "timescaledb" if directive.group(1) == "requires" else "plain"
        found[version] = Migration(
            version=version,
            name=match.group(2),
            path=path,
            sql=sql,
            checksum=hashlib.sha256(sql.encode()).hexdigest(),
            condition=condition,
        )
    return [found[v] for v in sorted(found)]


async def timescale_installed(conn: asyncpg.Connection) -> bool:
    """Whether the TimescaleDB extension exists in this database."""
    return bool(await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))


@dataclass(frozen=True)
class TimescaleServer:
    """What a server offers of TimescaleDB, read without changing anything."""

    database: str
    #: the extension's version in this database, if it was created
    installed: str | None
    #: the version ``CREATE EXTENSION`` would install, if the server has the files
    available: str | None
    #: ``timescaledb`` is in ``shared_preload_libraries`` (CREATE EXTENSION needs it); None: this
    #: role may not read the setting
    preloaded: bool | None


async def timescale_server(conn: asyncpg.Connection) -> TimescaleServer:
    row = await conn.fetchrow(
        """SELECT current_database() AS database,
                  (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed,
                  (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
                  (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload"""
    )
    preloaded = None  # only roles allowed to read server settings see it
    if row["preload"] is not None:
        preloaded = "timescaledb" in {
            p.strip().strip('"').rsplit("/", 1)[-1] for p in row["preload"].split(",")
        }
    return TimescaleServer(row["database"], row["installed"], row["available"], preloaded)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


_SUPPORTED = ".".join(map(str, MIN_TIMESCALEDB_VERSION))


def _timescale_decision(server: TimescaleServer, required: bool) -> tuple[bool, str | None]:
    """Whether to migrate with TimescaleDB, and why not if it is on the server but unusable.

    Raises :class:`ServerSetupError` for an installed TimescaleDB that is too old, and
    :class:`TimescaleRequiredError` when required and unusable.
    """
    if server.installed is not None:
        if _version(server.installed) < MIN_TIMESCALEDB_VERSION:
            raise ServerSetupError(
                f"TimescaleDB {server.installed} in database {server.database!r} is older than the supported "
                f"{_SUPPORTED}: install TimescaleDB {_SUPPORTED} or newer on the server, then run "
                "ALTER EXTENSION timescaledb UPDATE in that database"
            )
        return True, None
    if server.available is None:
        why = None
        problem = "the extension is not installed on the server; use a TimescaleDB server"
    elif server.preloaded is False:
        why = problem = (
            f"TimescaleDB {server.available} on the server is not loaded: add timescaledb to "
            "shared_preload_libraries in postgresql.conf and restart PostgreSQL"
        )
    elif _version(server.available) < MIN_TIMESCALEDB_VERSION:
        why = problem = (
            f"TimescaleDB {server.available} on the server is older than the supported {_SUPPORTED}: "
            f"install TimescaleDB {_SUPPORTED} or newer"
        )
    else:
        return True, None
    if required:
        raise TimescaleRequiredError(
            f"TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true) but {problem}"
        )
    if why is not None:
        why += "; migrating without TimescaleDB (run `attune migrate` again once it is loaded to upgrade)"
    return False, why


async def require_timescale(conn: asyncpg.Connection, required: bool) -> bool:
    """Whether TimescaleDB is installed in this database; :class:`TimescaleRequiredError` when it is
    required and not installed, :class:`ServerSetupError` when installed but too old. Changes nothing."""
    server = await timescale_server(conn)
    if server.installed is not None or required:
        _timescale_decision(server, required)
    if required and server.installed is None:
        raise TimescaleRequiredError(
            "TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true) but the extension is not created "
            f"in database {server.database!r}: run `attune migrate`"
        )
    return server.installed is not None


async def check_postgres_version(conn: asyncpg.Connection) -> None:
    """:class:`ServerSetupError` on a PostgreSQL older than :data:`MIN_POSTGRES_VERSION`."""
    if int(await conn.fetchval("SHOW server_version_num")) < MIN_POSTGRES_VERSION * 10_000:
        version = await conn.fetchval("SHOW server_version")
        raise ServerSetupError(
            f"PostgreSQL {version} is older than the supported {MIN_POSTGRES_VERSION}: "
            f"upgrade the server to PostgreSQL {MIN_POSTGRES_VERSION} or newer"
        )


async def check_privileges(conn: asyncpg.Connection) -> None:
    """:class:`ServerSetupError` unless this role may create the schema, or owns it (migrations alter
    what they created before)."""
    row = await conn.fetchrow(
        """SELECT current_user AS role, current_database() AS database,
                  has_database_privilege(current_database(), 'CREATE') AS may_create,
                  n.nspowner::regrole::text AS owner,
                  n.oid IS NOT NULL AND pg_has_role(n.nspowner, 'USAGE') AS owns
           FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1""",
        DB_SCHEMA,
    )
    role, database = row["role"], row["database"]
    if row["owner"] is None and not row["may_create"]:
        raise ServerSetupError(
            f"role {role!r} may not create schema {DB_SCHEMA} in database {database!r}: "
            f"GRANT CREATE ON DATABASE {database} TO {role}, or run `attune migrate` as the database owner"
        )
    if row["owner"] is not None and not row["owns"]:
        raise ServerSetupError(
            f"schema {DB_SCHEMA} in database {database!r} belongs to role {row['owner']!r}, not {role!r}: "
            f"run `attune migrate` as {row['owner']} (or GRANT {row['owner']} TO {role})"
        )


async def _recorded(conn: asyncpg.Connection) -> dict[int, str]:
    if not await conn.fetchval("SELECT to_regclass($1)", f"{DB_SCHEMA}.schema_migrations"):
        return {}
    return {
        row["version"]: row["checksum"]
        for row in await conn.fetch(f"SELECT version, checksum FROM {DB_SCHEMA}.schema_migrations")
    }


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    *,
    timescale_required: bool = False,
) -> MigrationReport:
    """Apply every pending migration that fits this database. Safe to run from several processes at once.

    The server is checked before anything changes (PostgreSQL version, TimescaleDB, the role's
    privileges): a refusal leaves the database as it was.
    """
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await check_postgres_version(conn)
        server = await timescale_server(conn)
        timescale, warning = _timescale_decision(server, timescale_required)
        try:
            recorded = await _recorded(conn)
        except asyncpg.InsufficientPrivilegeError:
            await check_privileges(conn)  # names the schema's owner and the fix
            raise
        for migration in migrations:
            if migration.version in recorded:
                _check_unchanged(migration, recorded[migration.version])
        pending = [m for m in migrations if m.version not in recorded and m.applies(timescale)]
        if pending:
            await check_privileges(conn)
        if timescale and server.installed is None:
            timescale, warning = await _create_timescale(conn, server, timescale_required)
            pending = [m for m in migrations if m.version not in recorded and m.applies(timescale)]
        report = MigrationReport(timescale=timescale, warnings=[warning] if warning else [])
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {DB_SCHEMA}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {DB_SCHEMA}.schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    checksum TEXT NOT NULL,
                    timescale BOOLEAN NOT NULL,
                    duration_ms INTEGER NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )
        for migration in migrations:
            if migration.version in recorded:
                report.already_applied.append(migration.filename)
            elif migration not in pending:
                report.not_applicable.append(migration.filename)
            else:
                await _apply(conn, migration, timescale)
                report.applied.append(migration.filename)
        return report
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def _create_timescale(
    conn: asyncpg.Connection, server: TimescaleServer, required: bool
) -> tuple[bool, str | None]:
    try:
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as exc:
        # what TimescaleDB does when it is not preloaded (seen only where the setting is unreadable)
        raise ServerSetupError(
            f"PostgreSQL closed the connection on CREATE EXTENSION timescaledb in database {server.database!r}: "
            "add timescaledb to shared_preload_libraries in postgresql.conf and restart PostgreSQL"
        ) from exc
    except asyncpg.PostgresError as exc:
        problem = (
            f"creating the timescaledb extension in database {server.database!r} failed ({exc}): run "
            "CREATE EXTENSION timescaledb there as a superuser"
        )
        if required:
            raise TimescaleRequiredError(
                f"TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true) but {problem}"
            ) from exc
        return False, f"{problem}; migrating without TimescaleDB"
    return True, None


def _check_unchanged(migration: Migration, recorded_checksum: str) -> None:
    if migration.checksum != recorded_checksum:
        raise MigrationError(
            f"{migration.path}: changed after it was applied (recorded sha256 {recorded_checksum[:12]}…, "
            f"file now {migration.checksum[:12]}…); add a new migration instead of editing this one"
        )


async def _apply(conn: asyncpg.Connection, migration: Migration, timescale: bool) -> None:
    started = time.monotonic()
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path = {DB_SCHEMA}, public")
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {DB_SCHEMA}.schema_migrations (version, name, checksum, timescale, duration_ms)"
                " VALUES ($1, $2, $3, $4, $5)",
                migration.version,
                migration.name,
                migration.checksum,
                timescale,
                int((time.monotonic() - started) * 1000),
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"{migration.path}: {type(exc).__name__}: {exc}") from exc


async def pending_migrations(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[str]:
    """Files that :func:`migrate` would apply now (services refuse to start while any is pending)."""
    migrations = load_migrations() if migrations is None else migrations
    timescale = await timescale_installed(conn)
    recorded = await _recorded(conn)
    pending = []
    for migration in migrations:
        if migration.version in recorded:
            _check_unchanged(migration, recorded[migration.version])
        elif migration.applies(timescale):
            pending.append(migration.filename)
    return pending


async def ensure_migrated(conn: asyncpg.Connection) -> None:
    """Raise :class:`SchemaMismatchError` when the database lacks migrations this code needs."""
    pending = await pending_migrations(conn)
    if pending:
        raise SchemaMismatchError(
            f"the database is not migrated ({len(pending)} pending: {', '.join(pending)}); run `attune migrate`"
        )
