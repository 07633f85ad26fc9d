"""Compression ratios of the columnstore settings (0016) on a realistic day of rows: the settings
are correct when a day's chunk compresses, and the one read of the history tables still finds an
entity's rows in a compressed chunk."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from attune_shared.repos import ExecutionHistoryRepository

from .realistic_day import load_day

pytestmark = pytest.mark.timescale

EVENTS_A_DAY = 20_000
#: the issue's bar for the tables that grow with every event
MIN_RATIO = {"event": 5.0, "execution_history": 5.0}
TABLES = ("event", "enforcement", "execution", "execution_history", "worker_history")


async def test_a_days_chunks_compress_at_least_five_times(timescale_conn: asyncpg.Connection) -> None:
    db = timescale_conn
    # a past day no other test writes to (chunks are aligned to UTC midnight)
    day = (datetime.now(UTC) - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
    await load_day(db, day, EVENTS_A_DAY)
    try:
        await _check_ratios_and_reads(db, day)
    finally:
        # the tier shares one database: the day's chunks go, so later tests see the rows they wrote
        for table in TABLES:
            chunk = await _chunk_of(db, table, day)
            await db.execute(
                "SELECT drop_chunks($1::regclass, older_than => $2::timestamptz, newer_than => $3::timestamptz)",
                table,
                chunk["range_end"],
                chunk["range_start"],
            )


async def _chunk_of(db: asyncpg.Connection, table: str, day: datetime) -> asyncpg.Record:
    [chunk] = await db.fetch(
        "SELECT format('%I.%I', chunk_schema, chunk_name) AS name, range_start, range_end "
        "FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'attune' AND hypertable_name = $1 AND range_start <= $2 AND range_end > $2",
        table,
        day,
    )
    return chunk


async def _check_ratios_and_reads(db: asyncpg.Connection, day: datetime) -> None:
    ratios: dict[str, float] = {}
    for table in TABLES:
        chunk = await _chunk_of(db, table, day)
        await db.execute("SELECT compress_chunk($1::regclass)", chunk["name"])
        stats = await db.fetchrow(
            "SELECT before_compression_total_bytes AS before, after_compression_total_bytes AS after "
            "FROM chunk_compression_stats($1::regclass) WHERE format('%I.%I', chunk_schema, chunk_name) = $2",
            table,
            chunk["name"],
        )
        ratios[table] = stats["before"] / stats["after"]
    print("compression ratios:", {t: f"{r:.1f}x" for t, r in ratios.items()})
    for table, minimum in MIN_RATIO.items():
        assert ratios[table] >= minimum, (table, ratios)

    # the history of one execution, read from the compressed chunk, whole and newest first
    execution_id = await db.fetchval(
        "SELECT entity_id FROM execution_history WHERE created >= $1 AND created < $1 + INTERVAL '1 day' "
        "ORDER BY random() LIMIT 1",
        day,
    )
    history = await ExecutionHistoryRepository(db).for_entity(execution_id)
    assert [h.operation for h in history] == ["UPDATE"] * 4 + ["INSERT"]
    assert [h.new_values["status"] for h in history][1:] == [
        "running",
        "scheduled",
        "scheduling",
        "requested",
    ]
    assert history[0].new_values["status"] in {"completed", "failed"}
