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

from attune_shared.constants import DB_SCHEMA, MIGRATION_LOCK_KEY, MIGRATIONS_DIR
from attune_shared.errors import MigrationError, SchemaMismatchError, TimescaleRequiredError

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


async def timescale_installed(conn: asyncpg.Connection, *, install: bool = True) -> bool:
    """Whether TimescaleDB is usable, creating the extension when it is available but not created."""
    if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"):
        return True
    if not install or not await conn.fetchval(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ):
        return False
    try:
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except asyncpg.PostgresError:
        return False  # e.g. not in shared_preload_libraries, or no privilege
    return True


async def require_timescale(conn: asyncpg.Connection, required: bool, *, install: bool = True) -> bool:
    """:func:`timescale_installed`, raising :class:`TimescaleRequiredError` when required and missing."""
    present = await timescale_installed(conn, install=install)
    if required and not present:
        database = await conn.fetchval("SELECT current_database()")
        raise TimescaleRequiredError(
            f"TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true) but the extension is not "
            f"installed in database {database!r}; use a TimescaleDB server or unset the requirement"
        )
    return present


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    *,
    timescale_required: bool = False,
) -> MigrationReport:
    """Apply every pending migration that fits this database. Safe to run from several processes at once."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        timescale = await require_timescale(conn, timescale_required)
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
        recorded = {
            row["version"]: row["checksum"]
            for row in await conn.fetch(f"SELECT version, checksum FROM {DB_SCHEMA}.schema_migrations")
        }
        report = MigrationReport(timescale=timescale)
        for migration in migrations:
            if migration.version in recorded:
                _check_unchanged(migration, recorded[migration.version])
                report.already_applied.append(migration.filename)
            elif not migration.applies(timescale):
                report.not_applicable.append(migration.filename)
            else:
                await _apply(conn, migration, timescale)
                report.applied.append(migration.filename)
        return report
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


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
    timescale = await timescale_installed(conn, install=False)
    exists = await conn.fetchval("SELECT to_regclass($1)", f"{DB_SCHEMA}.schema_migrations")
    recorded: dict[int, str] = {}
    if exists:
        recorded = {
            row["version"]: row["checksum"]
            for row in await conn.fetch(f"SELECT version, checksum FROM {DB_SCHEMA}.schema_migrations")
        }
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
