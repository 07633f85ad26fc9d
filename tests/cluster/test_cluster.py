"""Events to completed executions on a three-node NATS cluster with every stream at three replicas,
and the same under load while the server leading the work stream is killed: nothing lost, nothing
run twice, and how long the pipeline paused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus
from attune_shared.nats_cluster import NatsCluster
from attune_shared.packs import register_core_pack
from attune_shared.repos import ActionRepository
from attune_shared.testing.spawning import SpawnService
from tests.executor.conftest import FAST
from tests.sensor.helpers import publish_steadily, wait_for
from tests.shared.factories import make_rule, make_trigger

pytestmark = pytest.mark.slow

TRIGGER = "demo.alert"
#: consumers' ack_wait is 30 s: a message whose ack was lost in the failover comes back after it
REDELIVERY = 30 + 30


@pytest_asyncio.fixture
async def publisher(nats_url: str) -> AsyncIterator[NatsClient]:
    """A client that fails over between the members for as long as the test runs."""
    nc = await nats.connect(nats_url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        yield nc
    finally:
        await nc.close()


async def _start_pipeline(db: asyncpg.Pool, spawn_service: SpawnService) -> None:
    await register_core_pack(db)
    noop = await ActionRepository(db).get_by_ref("core.noop")
    await make_rule(db, "demo.on_alert", trigger=await make_trigger(db, TRIGGER), action=noop)
    await spawn_service("attune-sensor")
    await spawn_service("attune-executor", env=FAST)


@dataclass
class Outcome:
    done: int
    lost: list[str]
    duplicated: list[str]


async def _outcome(db: asyncpg.Pool, ids: list[str]) -> Outcome:
    """Per published message id: its events and executions (joined on the (id, created) keys)."""
    rows = await db.fetch(
        """SELECT ev.dedup_id, count(DISTINCT ev.id) AS events, count(x.id) AS runs,
                  count(x.id) FILTER (WHERE x.status = 'completed') AS completed
           FROM event ev
           LEFT JOIN enforcement en ON en.event = ev.id AND en.created = ev.created
           LEFT JOIN execution x ON x.enforcement = en.id AND x.created = en.created
           GROUP BY ev.dedup_id"""
    )
    completed = {r["dedup_id"] for r in rows if r["completed"] == 1}
    return Outcome(
        done=sum(r["completed"] for r in rows),
        lost=sorted(set(ids) - completed),
        duplicated=sorted(r["dedup_id"] for r in rows if r["events"] > 1 or r["runs"] > 1),
    )


async def _idle(nc: NatsClient, bus: Bus) -> bool:
    """Every consumer of the triggers and work streams has nothing pending or unacknowledged."""
    jsm = nc.jsm()
    for stream in (bus.spec.triggers_stream, bus.spec.work_stream):
        for consumer in await jsm.consumers_info(stream):
            if consumer.num_pending or consumer.num_ack_pending:
                return False
    return True


async def _all_done(db: asyncpg.Pool, ids: list[str]) -> Outcome | None:
    outcome = await _outcome(db, ids)
    return outcome if outcome.done >= len(ids) else None


async def test_pipeline_runs_on_a_three_node_cluster(
    db_pool: asyncpg.Pool, bus: Bus, publisher: NatsClient, spawn_service: SpawnService
) -> None:
    jsm = publisher.jsm()
    for stream in (
        bus.spec.triggers_stream,
        bus.spec.work_stream,
        bus.spec.updates_stream,
        bus.spec.dlq_stream,
    ):
        info = await jsm.stream_info(stream)
        assert info.config.num_replicas == 3, stream
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2, stream
    await _start_pipeline(db_pool, spawn_service)

    ids = [f"r3-{i}" for i in range(300)]
    await publish_steadily(publisher, bus.subjects.trigger(TRIGGER), ids)
    await wait_for(lambda: _all_done(db_pool, ids), 60, "every event's execution completed")
    await wait_for(lambda: _idle(publisher, bus), 30, "every consumer idle")
    outcome = await _outcome(db_pool, ids)
    assert (outcome.done, outcome.lost, outcome.duplicated) == (len(ids), [], [])


async def test_killing_the_work_stream_leader_under_load_loses_and_duplicates_nothing(
    db_pool: asyncpg.Pool,
    bus: Bus,
    publisher: NatsClient,
    spawn_service: SpawnService,
    owned_nats_cluster: NatsCluster,
    record_property: pytest.RecordProperty,
) -> None:
    await _start_pipeline(db_pool, spawn_service)
    ids = [f"kill-{i}" for i in range(2000)]
    # about 100 events/s, so the kill lands in a steady flow
    load = asyncio.create_task(
        publish_steadily(publisher, bus.subjects.trigger(TRIGGER), ids, chunk=10, pause=0.1, retry_for=60)
    )
    await wait_for(lambda: _done_at_least(db_pool, ids, 300), 60, "300 executions completed", interval=0.2)

    info = await publisher.jsm().stream_info(bus.spec.work_stream)
    assert info.cluster is not None and info.cluster.leader
    leader = owned_nats_cluster.node_named(info.cluster.leader)
    killed_at = datetime.now(UTC)
    leader.kill()  # a crash, not a shutdown
    assert not load.done(), "the load should still be flowing at the kill"

    await load
    published_at = time.monotonic()
    await wait_for(lambda: _all_done(db_pool, ids), REDELIVERY, "every event's execution completed")
    completed_at = time.monotonic()
    await wait_for(lambda: _idle(publisher, bus), REDELIVERY, "every consumer idle")
    print(
        f"\nall completed {completed_at - published_at:.1f} s after the last publish, idle {time.monotonic() - completed_at:.1f} s later"
    )
    outcome = await _outcome(db_pool, ids)
    assert (outcome.done, outcome.lost, outcome.duplicated) == (len(ids), [], [])

    new_leader = (await publisher.jsm().stream_info(bus.spec.work_stream)).cluster
    assert new_leader is not None and new_leader.leader != leader.server_name
    pause = await _longest_pause_after(db_pool, killed_at)
    record_property("pipeline_pause_seconds", round(pause, 3))
    print(f"\nwork stream leader {leader.server_name} killed: the pipeline paused {pause:.2f} s")


async def _done_at_least(db: asyncpg.Pool, ids: list[str], n: int) -> bool:
    return (await _outcome(db, ids)).done >= n


async def _longest_pause_after(db: asyncpg.Pool, killed_at: datetime) -> float:
    """The longest gap between two consecutive completions, from the last one before the kill on."""
    times = [
        r["updated"]
        for r in await db.fetch(
            "SELECT updated FROM execution WHERE status = 'completed' AND updated >= $1::timestamptz - INTERVAL '5 seconds' "
            "ORDER BY updated",
            killed_at,
        )
    ]
    before = [t for t in times if t <= killed_at]
    after = [t for t in times if t > killed_at]
    series = before[-1:] + after
    return max((b - a).total_seconds() for a, b in zip(series, series[1:], strict=False))
