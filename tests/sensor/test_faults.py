"""The sensor under faults: SIGKILL mid-stream, NATS and PostgreSQL restarts during ingestion, and a
graceful SIGTERM. Every valid message ends as exactly one event; nothing is acked without its row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus, BusSpec, provision
from attune_shared.embedded import NatsServer, PostgresServer
from tests.sensor.helpers import (
    count_events,
    dead_letter_counts,
    event_created_count,
    publish_steadily,
    remaining_ids,
    sensor_idle,
    stored_ids,
    wait_for,
)
from tests.shared.factories import make_rule, make_trigger

pytestmark = pytest.mark.slow

#: The sensor consumer's ack_wait is 30 s: a killed sensor's batch in hand comes back after it.
REDELIVERY = 30 + 30


async def _at_least(db: asyncpg.Pool, n: int) -> bool:
    return await count_events(db) >= n


@dataclass
class Progress:
    stored: int
    missing: int
    consumer: str = ""

    def __bool__(self) -> bool:
        return self.missing == 0


async def _all_stored_once(
    db: asyncpg.Pool, ids: list[str], nc: NatsClient | None = None, spec: BusSpec | None = None
) -> Progress:
    """All of ``ids`` stored, none twice; falsy (and telling) until then."""
    stored = await stored_ids(db)
    assert len(stored) == len(set(stored)), "a message was stored twice"
    progress = Progress(len(stored), len(set(ids) - set(stored)))
    if not progress and nc is not None and spec is not None:
        info = await nc.jsm().consumer_info(spec.triggers_stream, "sensor")
        progress.consumer = (
            f"pending={info.num_pending} ack_pending={info.num_ack_pending} "
            f"redelivered={info.num_redelivered} waiting={info.num_waiting}"
        )
    return progress


async def test_sigkill_mid_stream_then_restart_stores_every_message_once(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await make_rule(db_pool)  # a rule uses the trigger: each event wakes the executor
    ids = [f"kill-{i}" for i in range(4000)]
    sensor = await spawn_service("attune-sensor")
    publisher = asyncio.create_task(publish_steadily(nats_client, bus.subjects.trigger("demo.alert"), ids))
    await wait_for(lambda: _at_least(db_pool, 500), 30, "ingestion under way")
    await sensor.kill()
    assert not publisher.done(), "the stream should still be flowing at the kill"
    await publisher
    await spawn_service("attune-sensor")
    await wait_for(
        lambda: _all_stored_once(db_pool, ids, nats_client, bus.spec), REDELIVERY, "every message stored"
    )
    # what the killed sensor had stored but not acked comes back after ack_wait, and maps to its row
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), REDELIVERY, "the sensor to be idle")
    assert await count_events(db_pool) == len(ids)
    assert await event_created_count(nats_client, bus.spec) == len(ids)


async def test_sigterm_finishes_the_batch_in_hand_and_exits_zero(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await make_rule(db_pool)  # a rule uses the trigger: each event wakes the executor
    ids = [f"term-{i}" for i in range(4000)]
    sensor = await spawn_service("attune-sensor")
    publisher = asyncio.create_task(publish_steadily(nats_client, bus.subjects.trigger("demo.alert"), ids))
    await wait_for(lambda: _at_least(db_pool, 500), 30, "ingestion under way")
    assert await sensor.terminate(timeout=15) == 0
    assert not publisher.done(), "the stream should still be flowing at the SIGTERM"
    await publisher
    output = sensor.output()
    assert '"msg": "service.stopping"' in output and '"msg": "service.stopped"' in output
    assert '"level": "error"' not in output

    # nothing acked without a row: each message is either stored or still in the stream, not both
    stored, waiting = (
        set(await stored_ids(db_pool)),
        await remaining_ids(nats_client, bus.spec.triggers_stream),
    )
    assert stored | waiting == set(ids)
    assert not stored & waiting
    assert await event_created_count(nats_client, bus.spec) == len(stored)

    await spawn_service("attune-sensor")
    await wait_for(lambda: _all_stored_once(db_pool, ids, nats_client, bus.spec), 30, "every message stored")


@pytest.fixture
async def nats_on(owned_nats: NatsServer, nats_prefix: str) -> AsyncIterator[tuple[NatsClient, BusSpec]]:
    """A client of the private NATS server that reconnects forever, and the provisioned topology."""
    nc = await nats.connect(
        owned_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=2
    )
    spec = BusSpec(nats_prefix)
    await provision(nc, spec)
    try:
        yield nc, spec
    finally:
        await nc.close()


async def test_nats_restart_during_ingestion(
    spawn_service, owned_nats: NatsServer, nats_on: tuple[NatsClient, BusSpec], db_pool: asyncpg.Pool
) -> None:
    nc, spec = nats_on
    await make_trigger(db_pool, "demo.alert")
    ids = [f"nats-{i}" for i in range(3000)]
    sensor = await spawn_service("attune-sensor", env={"ATTUNE__NATS__URL": owned_nats.url})
    publisher = asyncio.create_task(
        publish_steadily(nc, spec.subjects.trigger("demo.alert"), ids, retry_for=60)
    )
    await wait_for(lambda: _at_least(db_pool, 500), 30, "ingestion under way")
    owned_nats.kill()  # a crash, not a shutdown
    assert not publisher.done(), "the stream should still be flowing at the crash"
    owned_nats.start()
    await sensor.wait_for_log('"msg": "nats.reconnected"', timeout=30)
    await publisher
    await wait_for(lambda: _all_stored_once(db_pool, ids, nc, spec), REDELIVERY, "every message stored")
    assert sensor.running  # recovered by itself
    await wait_for(lambda: sensor_idle(nc, spec), REDELIVERY, "the sensor to be idle")
    assert await count_events(db_pool) == len(ids)
    assert await dead_letter_counts(nc, spec) == {}


async def test_postgres_restart_during_ingestion(
    spawn_service,
    owned_postgres: PostgresServer,
    owned_database: tuple[str, asyncpg.Pool],
    nats_client: NatsClient,
    bus: Bus,
) -> None:
    url, pool = owned_database
    await make_rule(pool)  # a rule uses the trigger: each event wakes the executor
    ids = [f"pg-{i}" for i in range(3000)]
    sensor = await spawn_service("attune-sensor", env={"ATTUNE__DATABASE__URL": url})
    publisher = asyncio.create_task(
        publish_steadily(nats_client, bus.subjects.trigger("demo.alert"), ids, pause=0.02)
    )
    await wait_for(lambda: _at_least(pool, 300), 30, "ingestion under way")
    owned_postgres.stop()
    assert not publisher.done(), "the stream should still be flowing at the restart"
    await sensor.wait_for_log('"msg": "database.unavailable"', timeout=10)
    owned_postgres.start()
    await sensor.wait_for_log('"msg": "database.available"', timeout=30)
    await publisher
    await wait_for(
        lambda: _all_stored_once(pool, ids, nats_client, bus.spec), REDELIVERY, "every message stored"
    )
    assert sensor.running  # recovered by itself
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), 10, "the sensor to be idle")
    assert await count_events(pool) == len(ids)
    assert await dead_letter_counts(nats_client, bus.spec) == {}
    assert await event_created_count(nats_client, bus.spec) == len(ids)
