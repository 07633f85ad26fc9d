"""Ingestion end to end: trigger messages on NATS -> the sensor process -> event rows and
``event.created`` messages; bad input -> dead letters; duplicates -> one event."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg
import httpx
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from attune_shared.bus import Bus, DeadLetter, EventCreated, RuleChanged
from attune_shared.processes import free_port
from attune_shared.repos import EventRepository
from tests.sensor.helpers import (
    count_events,
    dead_letter_counts,
    event_created_count,
    publish,
    sensor_idle,
    wait_for,
)
from tests.shared.factories import make_rule, make_trigger

N = 1000


async def test_thousand_payloads_make_thousand_events_once(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await make_rule(db_pool)  # a rule uses demo.alert: each event wakes the executor
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


async def test_only_events_a_rule_may_match_wake_the_executor(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    """An event of a trigger no enabled rule uses wakes no one; live followers are told on
    ``event.unheard``. A rule created later is heard from its ``rule.changed`` on."""
    await make_rule(db_pool)  # demo.alert
    quiet = await make_trigger(db_pool, "demo.quiet")
    await make_rule(db_pool, "demo.on_quiet", trigger=quiet, enabled=False)
    lonely = await make_trigger(db_pool, "demo.lonely")
    told: list[EventCreated] = []

    async def on_unheard(msg: Msg) -> None:
        told.append(EventCreated.model_validate_json(msg.data))

    await nats_client.subscribe(bus.subjects.event_unheard, cb=on_unheard)
    # cached longer than the test runs: only rule.changed can make the sensor read the rules again
    await spawn_service("attune-sensor", env={"ATTUNE__SENSOR__TRIGGER_CACHE_TTL": "3600"})
    for ref in ("demo.alert", "demo.quiet", "demo.lonely"):
        await publish(nats_client, bus.subjects.trigger(ref), ({"n": i} for i in range(20)))
    await wait_for(lambda: _equals(count_events(db_pool), 60), 30, "60 events")
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), 30, "the sensor to be idle")
    await wait_for(lambda: _equals(_len(told), 40), 10, "40 event.unheard")
    assert await event_created_count(nats_client, bus.spec) == 20
    assert Counter(t.trigger_ref for t in told) == {"demo.quiet": 20, "demo.lonely": 20}
    rows = await db_pool.fetch("SELECT id, created FROM event WHERE trigger_ref <> 'demo.alert'")
    assert {(t.event_id, t.created) for t in told} == {(r["id"], r["created"]) for r in rows}

    rule = await make_rule(db_pool, "demo.on_lonely", trigger=lonely)
    await bus.rule_changed(RuleChanged(rule_ref=rule.ref, trigger_ref=lonely.ref, enabled=True, op="created"))
    # the change and the next message reach the sensor on different subscriptions: publish until
    # one is heard, then every later one must be
    sent = 0

    async def heard() -> bool:
        nonlocal sent
        await publish(nats_client, bus.subjects.trigger("demo.lonely"), [{"n": 100 + sent}])
        sent += 1
        await wait_for(lambda: _equals(count_events(db_pool, "demo.lonely"), 20 + sent), 10, "the event")
        # the row is committed before its announcement: count announcements once it is settled
        await wait_for(lambda: sensor_idle(nats_client, bus.spec), 10, "the sensor to be idle")
        return await event_created_count(nats_client, bus.spec) > 20

    await wait_for(heard, 10, "an event of demo.lonely announced after its rule.changed")
    await publish(nats_client, bus.subjects.trigger("demo.lonely"), ({"n": 200 + i} for i in range(20)))
    await wait_for(lambda: _equals(count_events(db_pool, "demo.lonely"), 40 + sent), 30, "20 more events")
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), 30, "the sensor to be idle")
    assert await event_created_count(nats_client, bus.spec) == 20 + 1 + 20
    assert len(told) == 40 + sent - 1


async def _len(items: list[EventCreated]) -> int:
    return len(items)


SCHEMA = {
    "type": "object",
    "properties": {"level": {"enum": ["low", "high"]}, "n": {"type": "integer"}},
    "required": ["level"],
}


def _bad_messages(bus: Bus) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """50 messages the sensor must dead-letter: (reason, subject, body, headers)."""
    alert, off, nope = (bus.subjects.trigger(r) for r in ("demo.alert", "demo.off", "demo.nope"))
    json_header = {"content-type": "application/json"}
    bad: list[tuple[str, str, bytes, dict[str, str]]] = []
    for body, headers in [
        (b"{not json", {}),
        (b"{not json either", json_header),  # a JSON content type changes nothing
        (b"", {}),
        (b"   ", {}),
        (b"\xff\xfe\x00{", {}),
        (b'{"level": "low", "x": NaN}', {}),
        (b'{"level": "low", "x": 1e999}', {}),
        (b'{"level": "low", "x": "nul \\u0000 inside"}', {}),
        (b'{"level": "low"', {}),
        (b'{"level": "low"} trailing', {}),
    ]:
        bad.append(("invalid_json", alert, body, headers))
    for body in [b"[1, 2]", b'"a string"', b"42", b"null", b"true", b"[]", b"3.5", b'[{"level": "low"}]']:
        bad.append(("not_an_object", alert, body, {}))
    big = json.dumps({"level": "low", "blob": "x" * 3000}).encode()
    bad += [("too_large", alert, big, {}) for _ in range(8)]
    bad += [("unknown_trigger", nope, json.dumps({"level": "low"}).encode(), {}) for _ in range(8)]
    bad += [("disabled_trigger", off, json.dumps({"level": "low"}).encode(), {}) for _ in range(8)]
    for body in [{}, {"level": "medium"}, {"level": 3}, {"level": "low", "n": "one"}] * 2:
        bad.append(("schema_violation", alert, json.dumps(body).encode(), {}))
    assert len(bad) == 50
    return bad


async def test_bad_messages_are_dead_lettered_and_the_rest_stored(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await make_rule(db_pool, trigger=await make_trigger(db_pool, "demo.alert", payload_schema=SCHEMA))
    await make_trigger(db_pool, "demo.off", enabled=False)
    port = free_port()
    sensor = await spawn_service(
        "attune-sensor",
        env={"ATTUNE__SENSOR__MAX_PAYLOAD_BYTES": "2048", "ATTUNE__SENSOR__METRICS_PORT": str(port)},
    )
    js = nats_client.jetstream()
    bad = _bad_messages(bus)
    good = [json.dumps({"level": "high" if i % 2 else "low", "n": i}).encode() for i in range(300)]
    # interleaved: one bad message after every six good ones
    for i, (_, subject, data, headers) in enumerate(bad):
        for body in good[6 * i : 6 * i + 6]:
            await js.publish(bus.subjects.trigger("demo.alert"), body)
        await js.publish(subject, data, headers=headers or None)

    expected = Counter(reason for reason, *_ in bad)
    await wait_for(lambda: _equals(count_events(db_pool, "demo.alert"), 300), 30, "300 events")
    await wait_for(lambda: _dlq_equals(nats_client, bus, expected), 30, f"dead letters {dict(expected)}")
    await wait_for(lambda: sensor_idle(nats_client, bus.spec), 30, "the sensor to be idle")
    assert await count_events(db_pool) == 300
    assert await event_created_count(nats_client, bus.spec) == 300

    # a dead letter keeps the original subject, headers and body
    letters = await _dead_letters(nats_client, bus, 50)
    too_large = [d for d in letters if d.reason == "too_large"]
    assert too_large[0].subject == bus.subjects.trigger("demo.alert")
    assert json.loads(too_large[0].body or "")["blob"] == "x" * 3000
    assert "more than the limit of 2048" in too_large[0].detail
    binary = [d for d in letters if d.body_b64]
    assert len(binary) == 1 and binary[0].reason == "invalid_json"
    violation = next(d for d in letters if d.reason == "schema_violation" and '"medium"' in (d.body or ""))
    assert violation.detail.startswith("$.level: ")
    typed = next(d for d in letters if d.headers.get("content-type") == "application/json")
    assert typed.reason == "invalid_json"

    # one log line per dead letter, and the Prometheus counters
    assert sensor.output().count('"msg": "message.dead_lettered"') == 50
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    for reason, n in expected.items():
        assert f'attune_dead_letters_total{{reason="{reason}",service="sensor"}} {float(n)}' in metrics
    assert 'attune_trigger_messages_total{outcome="event"} 300.0' in metrics


async def _dlq_equals(nc: NatsClient, bus: Bus, expected: Counter[str]) -> bool:
    return await dead_letter_counts(nc, bus.spec) == dict(expected)


async def _dead_letters(nc: NatsClient, bus: Bus, count: int) -> list[DeadLetter]:
    sub = await nc.jetstream().subscribe(
        bus.subjects.dead_letters, stream=bus.spec.dlq_stream, ordered_consumer=True
    )
    try:
        return [DeadLetter.model_validate_json((await sub.next_msg(timeout=5)).data) for _ in range(count)]
    finally:
        await sub.unsubscribe()
