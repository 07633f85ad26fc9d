"""Raw ceilings on the same servers: what NATS JetStream and PostgreSQL do without our code."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import nats
from nats.js.api import RetentionPolicy, StreamConfig

from .pipeline import held_gc, publish_on

PAYLOAD = json.dumps(
    {"host": "db-01", "severity": "critical", "message": "disk almost full", "value": 97.5}
).encode()


async def js_publish_and_consume(nats_url: str, count: int, in_flight: int = 256) -> dict[str, float]:
    """Messages/s into a stream nothing consumes, every PubAck awaited, then pull fetch + ack.

    ``publish`` is the ceiling: the load generator publishing its own messages (the payload and
    ``Nats-Msg-Id`` the pipeline is fed, :func:`bench.pipeline.publish_on`), alone. ``bare_publish``
    is the ceiling of rounds 1 to 8, shown beside it: a 77-byte payload without headers,
    ``in_flight`` at once, which the same client publishes faster than the messages the ingest
    bursts carry. ``fetch`` reads and acks the load generator's messages.
    """
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    name = f"BENCH_{uuid.uuid4().hex[:6].upper()}"
    subject = f"bench.{name.lower()}"
    await js.add_stream(StreamConfig(name=name, subjects=[subject], retention=RetentionPolicy.WORK_QUEUE))
    try:
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> None:
            async with semaphore:
                await js.publish(subject, PAYLOAD)

        # unmeasured first: the stream's first file block and the connection's first buffers
        await asyncio.gather(*(one() for _ in range(200)))
        await nc.jsm().purge_stream(name)
        with held_gc():
            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(count)))
            bare_rate = count / (time.perf_counter() - started)
        await nc.jsm().purge_stream(name)

        with held_gc():
            started = time.perf_counter()
            await publish_on(js, subject, count)
            publish_rate = count / (time.perf_counter() - started)

        sub = await js.pull_subscribe(subject, durable="bench", stream=name)
        received = 0
        with held_gc():
            started = time.perf_counter()
            while received < count:
                msgs = await sub.fetch(batch=256, timeout=5)
                for msg in msgs:
                    await msg.ack()
                received += len(msgs)
            fetch_rate = count / (time.perf_counter() - started)
        return {"publish": publish_rate, "bare_publish": bare_rate, "fetch": fetch_rate}
    finally:
        await js.delete_stream(name)
        await nc.close()


async def spawn_ms(count: int = 50) -> float:
    """Median milliseconds to run ``/bin/sh -c true`` to completion: the process itself, no Attune."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true")
        await proc.wait()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


_EVENT_LIKE = """CREATE TABLE bench_event (
    id BIGSERIAL, created TIMESTAMPTZ NOT NULL, trigger_ref TEXT NOT NULL, config JSONB NOT NULL,
    payload JSONB NOT NULL, source_ref TEXT, trace_tag TEXT, dedup_id TEXT NOT NULL,
    PRIMARY KEY (id, created), UNIQUE (dedup_id, created))"""


async def pg_rows(database_url: str, count: int, batch: int = 256) -> tuple[float, float]:
    """Rows/s into an event-shaped table: asyncpg executemany (batches of ``batch``) and binary COPY."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_EVENT_LIKE)
        now = datetime.now(UTC)
        payload = PAYLOAD.decode()
        rows = [(now, "bench.alert", "{}", payload, "nats", None, uuid.uuid4().hex) for _ in range(count)]
        insert = (
            "INSERT INTO bench_event (created, trigger_ref, config, payload, source_ref, trace_tag, dedup_id) "
            "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7)"
        )
        with held_gc():
            started = time.perf_counter()
            for i in range(0, count, batch):
                await conn.executemany(insert, rows[i : i + batch])
            executemany_rate = count / (time.perf_counter() - started)

        await conn.execute("TRUNCATE bench_event")
        copy_rows = [
            (now, "bench.alert", "{}", payload, "nats", None, uuid.uuid4().hex) for _ in range(count)
        ]
        with held_gc():
            started = time.perf_counter()
            for i in range(0, count, batch * 8):
                await conn.copy_records_to_table(
                    "bench_event",
                    records=copy_rows[i : i + batch * 8],
                    columns=[
                        "created",
                        "trigger_ref",
                        "config",
                        "payload",
                        "source_ref",
                        "trace_tag",
                        "dedup_id",
                    ],
                )
            copy_rate = count / (time.perf_counter() - started)
        return executemany_rate, copy_rate
    finally:
        await conn.close()
