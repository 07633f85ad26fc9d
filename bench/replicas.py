"""What three stream replicas cost: the same noop burst on one NATS server (R1) and on a
three-node cluster (R3, started here on 127.0.0.1), each on a fresh database, in one run."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from attune_shared.db import create_pool
from attune_shared.nats_cluster import NatsCluster
from attune_shared.settings import DatabaseSettings

from . import pipeline
from .servers import fresh_database


async def compare(database_server_url: str, nats_url: str, count: int, concurrency: int) -> dict[str, Any]:
    """The noop burst's rate and latency at R1 and at R3, and R3's rate as a share of R1's."""
    r1 = await _burst(database_server_url, nats_url, 1, count, concurrency)
    root = Path(tempfile.mkdtemp(prefix="attune-bench-cluster-"))
    cluster = NatsCluster(root)
    await asyncio.to_thread(cluster.start)
    try:
        r3 = await _burst(database_server_url, cluster.url, 3, count, concurrency)
    finally:
        await asyncio.to_thread(cluster.kill)
    shutil.rmtree(root, ignore_errors=True)  # as bench.servers: kept only after a failure
    return {"r1": r1, "r3": r3, "r3_of_r1": round(r3["per_s"] / r1["per_s"], 3)}


async def _burst(
    database_server_url: str, nats_url: str, replicas: int, count: int, concurrency: int
) -> dict[str, Any]:
    async with fresh_database(database_server_url) as db_url:
        pool = await create_pool(DatabaseSettings(url=db_url), max_size=4)
        try:
            async with pipeline.stack(db_url, nats_url, 1, concurrency, replicas=replicas) as st:
                started = time.time()
                done = await pipeline.run_to_completion(pool, st, "bench.noop", count)
                lat = await pipeline.latencies(pool, "core.noop", 0, count)
                return {
                    "count": count,
                    "per_s": round(count / (done - started), 1),
                    "running_ms": pipeline.percentiles(lat["running"]),
                    "correctness": await pipeline.correctness(pool, "bench.noop", count, True),
                }
        finally:
            await pool.close()
