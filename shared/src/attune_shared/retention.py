"""Retention for PostgreSQL without TimescaleDB: delete expired rows in batches.

With TimescaleDB the retention policies of migration 0004 drop whole chunks instead, and
:func:`purge_expired` does nothing.
"""

from __future__ import annotations

import asyncpg

from attune_shared.constants import RETENTION_LOCK_KEY
from attune_shared.migrations import timescale_installed
from attune_shared.settings import RetentionSettings


def retention_days(settings: RetentionSettings) -> dict[str, int]:
    """Table -> days its rows are kept."""
    return {
        "event": settings.event_days,
        "enforcement": settings.enforcement_days,
        "execution": settings.execution_days,
        "execution_history": settings.execution_history_days,
        "worker_history": settings.worker_history_days,
    }


async def purge_expired(pool: asyncpg.Pool, settings: RetentionSettings) -> dict[str, int] | None:
    """Delete rows older than their table's retention, ``batch_size`` rows per transaction.

    Returns rows deleted per table, or ``None`` when skipped: TimescaleDB is installed, or
    another replica holds the retention lock right now.
    """
    async with pool.acquire() as conn:
        if await timescale_installed(conn):
            return None
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY):
            return None
        try:
            deleted: dict[str, int] = {}
            for table, days in retention_days(settings).items():
                deleted[table] = 0
                while True:
                    status = await conn.execute(
                        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                        f"SELECT ctid FROM {table} WHERE created < now() - make_interval(days => $1) LIMIT $2))",
                        days,
                        settings.batch_size,
                    )
                    count = int(status.split()[-1])
                    deleted[table] += count
                    if count < settings.batch_size:
                        break
            return deleted
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_KEY)
