import asyncio
import shutil
import sys
from pathlib import Path

import asyncpg
import pytest

from attune_shared.constants import MIGRATIONS_DIR
from attune_shared.db import connect
from attune_shared.errors import DatabaseUnavailableError, MigrationError, TimescaleRequiredError
from attune_shared.migrations import load_migrations, migrate, pending_migrations
from attune_shared.settings import DatabaseSettings
from attune_shared.testing.databases import with_database

#: Every migration file that applies to plain PostgreSQL, in order.
PLAIN_FILES = [m.filename for m in load_migrations() if m.applies(timescale=False)]


@pytest.fixture
async def empty_database(postgres_server_url: str):
    """A database with nothing in it (not cloned from the migrated template)."""
    import uuid

    name = f"attune_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield with_database(postgres_server_url, name)
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def _schema_snapshot(conn: asyncpg.Connection) -> list[tuple]:
    rows = await conn.fetch(
        """SELECT table_name, column_name, data_type, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = 'attune' ORDER BY 1, 2"""
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'attune' ORDER BY 1"
    )
    return [tuple(r) for r in rows] + [tuple(r) for r in indexes]


async def test_migrations_apply_twice_without_change(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        first = await migrate(conn)
        assert first.applied == PLAIN_FILES
        # TimescaleDB-only files stay pending on plain PostgreSQL
        assert first.not_applicable == [
            "0004_timescale.sql",
            "0015_audit_timescale.sql",
            "0016_columnstore_settings.sql",
        ]
        snapshot = await _schema_snapshot(conn)
        recorded = await conn.fetch(
            "SELECT version, checksum, applied_at FROM attune.schema_migrations ORDER BY 1"
        )

        second = await migrate(conn)
        assert second.applied == []
        assert second.already_applied == first.applied
        assert await _schema_snapshot(conn) == snapshot
        assert (
            await conn.fetch("SELECT version, checksum, applied_at FROM attune.schema_migrations ORDER BY 1")
            == recorded
        )
        assert await pending_migrations(conn) == []
    finally:
        await conn.close()


async def test_concurrent_migrate_processes_are_safe(empty_database: str) -> None:
    env = {"ATTUNE__DATABASE__URL": empty_database, "PATH": "/usr/bin:/bin"}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "attune_cli",
            "migrate",
            "--json",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1].decode() for o in outputs]
    import json

    reports = [json.loads(o[0]) for o in outputs]
    applied = [name for r in reports for name in r["applied"]]
    # every migration applied exactly once, by whichever process got the lock first
    assert sorted(applied) == PLAIN_FILES
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM attune.schema_migrations") == len(PLAIN_FILES)
    finally:
        await conn.close()


async def test_changed_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn, load_migrations(copy))
        target = copy / "0002_pipeline.sql"
        target.write_text(target.read_text() + "\n-- an innocent edit\n")
        with pytest.raises(MigrationError) as info:
            await migrate(conn, load_migrations(copy))
        message = str(info.value)
        assert "0002_pipeline.sql" in message and "changed after it was applied" in message
        with pytest.raises(MigrationError, match="0002_pipeline.sql"):
            await pending_migrations(conn, load_migrations(copy))
    finally:
        await conn.close()


async def test_failing_migration_names_the_file_and_rolls_back(empty_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "0099_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_column FROM pack;\n"
    )
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(MigrationError, match=r"0099_broken.sql: UndefinedColumnError"):
            await migrate(conn, load_migrations(copy))
        assert await conn.fetchval("SELECT to_regclass('attune.half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM attune.schema_migrations") == max(
            m.version for m in load_migrations() if m.applies(timescale=False)
        )
    finally:
        await conn.close()


def test_misnamed_and_duplicate_files(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("")
    with pytest.raises(MigrationError, match="1_bad.sql: migration files are named"):
        load_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="version 0001 is also used by 0001_a.sql"):
        load_migrations(tmp_path)


async def test_unreachable_database_names_the_server() -> None:
    settings = DatabaseSettings(url="postgresql://app:s3cret@127.0.0.1:1/nowhere", startup_wait=0.2)
    with pytest.raises(DatabaseUnavailableError) as info:
        await connect(settings)
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message


async def test_timescale_required_without_extension(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(TimescaleRequiredError, match="ATTUNE__TIMESCALE__REQUIRED"):
            await migrate(conn, timescale_required=True)
        assert await conn.fetchval("SELECT to_regclass('attune.pack')") is None
    finally:
        await conn.close()


def test_unreachable_database_cli(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "attune_cli", "migrate"],
        env={
            "ATTUNE__DATABASE__URL": "postgresql://u:pw@127.0.0.1:1/db",
            "ATTUNE__DATABASE__STARTUP_WAIT": "0",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/db" in result.stderr


@pytest.mark.parametrize("service", ["attune_sensor", "attune_executor", "attune_api"])
def test_services_refuse_a_database_without_hypertables_when_timescale_is_required(
    service: str, service_env: dict[str, str]
) -> None:
    """`database_url` is migrated on plain PostgreSQL: with the requirement set, no service starts on it."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", service],
        env={**service_env, "ATTUNE__TIMESCALE__REQUIRED": "true"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "TimescaleDB is required (ATTUNE__TIMESCALE__REQUIRED=true)" in result.stderr
