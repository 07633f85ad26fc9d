"""Retention: delete expired rows in batches.

Without TimescaleDB, the time-series tables' rows; with it, the retention policies of migration
0004 drop whole chunks instead. Either way the workflows of executions past their retention
(``workflow_execution``, and their dispatch rows with it), which are ordinary tables.
"""

from __future__ import annotations

import asyncpg

from attune_shared.constants import RETENTION_LOCK_KEY
from attune_shared.migrations import timescale_installed
from attune_shared.settings import RetentionSettings


def retention_days(settings: RetentionSettings) -> dict[str, int]:
    """Time-series table -> days its rows are kept."""
    return {
        "event": settings.event_days,
        "enforcement": settings.enforcement_days,
        "execution": settings.execution_days,
        "execution_history": settings.execution_history_days,
        "worker_history": settings.worker_history_days,
        "audit_log": settings.audit_days,
    }


async def purge_expired(pool: asyncpg.Pool, settings: RetentionSettings) -> dict[str, int] | None:
    """Delete rows older than their table's retention, ``batch_size`` rows per transaction (see the
    module docstring for which).

    Returns rows deleted per table, or ``None`` when another replica holds the retention lock.
    """
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY):
            return None
        try:
            # (table, the column its age is read from, days)
            tables = [("workflow_execution", "execution_created", settings.execution_days)]
            if not await timescale_installed(conn):
                tables += [(table, "created", days) for table, days in retention_days(settings).items()]
            deleted: dict[str, int] = {}
            for table, column, days in tables:
                deleted[table] = 0
                while True:
                    async with conn.transaction():
                        # the audit log refuses deletes but retention's (migrations/0014_audit.sql)
                        await conn.execute("SET LOCAL attune.retention = 'on'")
                        status = await conn.execute(
                            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                            f"SELECT ctid FROM {table} WHERE {column} < now() - make_interval(days => $1) LIMIT $2))",
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
