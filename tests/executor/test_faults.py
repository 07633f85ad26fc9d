"""A PostgreSQL restart under load costs the executor no message and no execution."""

from __future__ import annotations

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus
from attune_shared.embedded import PostgresServer
from attune_shared.packs import register_core_pack
from attune_shared.statuses import ExecutionStatus

from ..shared.factories import make_action, make_rule, make_trigger
from .conftest import StartExecutor
from .helpers import announce_events, finished, store_events

pytestmark = pytest.mark.slow


async def _dead_letters(nc: NatsClient, bus: Bus) -> int:
    return int((await nc.jsm().stream_info(bus.spec.dlq_stream)).state.messages)


async def test_postgres_restart_while_events_flow(
    owned_postgres: PostgresServer,
    owned_database: tuple[str, asyncpg.Pool],
    bus: Bus,
    nats_client: NatsClient,
    start_executor: StartExecutor,
) -> None:
    url, pool = owned_database
    await register_core_pack(pool)
    echo = await make_action(pool, "demo.say", runner_type="builtin", entry_point="echo")  # in-process
    await make_rule(
        pool,
        "demo.echo",
        trigger=await make_trigger(pool),
        action=echo,
        action_params={"message": "n={{ trigger.n }}"},
    )
    events = await store_events(pool, "demo.alert", [{"n": i} for i in range(300)])
    executor = await start_executor(env={"ATTUNE__DATABASE__URL": url})
    await announce_events(bus, events[:100])
    await finished(pool, 20, timeout=30)
    owned_postgres.stop()
    await announce_events(bus, events[100:])  # arrive while the database is away
    await executor.wait_for_log('"msg": "database.unavailable"', timeout=15)
    owned_postgres.start()
    await executor.wait_for_log('"msg": "database.available"', timeout=30)
    done = await finished(pool, 300, timeout=60)
    assert {x.status for x in done} == {ExecutionStatus.COMPLETED}
    assert sorted(int(x.config["message"][2:]) for x in done) == list(range(300))  # each event once
    assert await _dead_letters(nats_client, bus) == 0
    assert executor.running
