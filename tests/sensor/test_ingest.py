"""Ingestion end to end: trigger messages on NATS -> the sensor process -> event rows and
``event.created`` messages; bad input -> dead letters; duplicates -> one event."""

from __future__ import annotations

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus
from attune_shared.repos import EventRepository
from tests.sensor.helpers import count_events, event_created_count, publish, sensor_idle, wait_for
from tests.shared.factories import make_trigger

N = 1000


async def test_thousand_payloads_make_thousand_events_once(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await make_trigger(db_pool, "demo.alert")
    sensor = await spawn_service("attune-sensor")
    subject = bus.subjects.trigger("demo.alert")
    ids = [f"alert-{i}" for i in range(N)]
    acks = await publish(
        nats_client,
        subject,
        ({"n": i, "host": f"web-{i % 7}"} for i in range(N)),
        msg_ids=ids,
        headers={"Attune-Trace-Tag": "bulk"},
    )
    assert not any(a.duplicate for a in acks)

    await wait_for(lambda: _equals(count_events(db_pool, "demo.alert"), N), 60, f"{N} events")
    await wait_for(lambda: _equals(event_created_count(nats_client, bus.spec), N), 30, f"{N} event.created")

    events = await EventRepository(db_pool).list(trigger_ref="demo.alert", limit=1000)
    assert {e.dedup_id for e in events} == set(ids)
    assert {e.payload["n"] for e in events} == set(range(N))
    assert {(e.source_ref, e.trace_tag, e.rule_ref) for e in events} == {("nats", "bulk", None)}

    # Same message ids again, after a restart: JetStream drops them, nothing new is stored.
    assert await sensor.terminate() == 0
    await spawn_service("attune-sensor")
    acks = await publish(nats_client, subject, ({"n": i} for i in range(N)), msg_ids=ids)
    assert all(a.duplicate for a in acks)
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), 30, "the sensor to be idle")
    assert await count_events(db_pool, "demo.alert") == N
    assert await event_created_count(nats_client, bus.spec) == N


async def _equals(value, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return (await value) == expected
