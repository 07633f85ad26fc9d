"""Timers end to end: rules on the core timer triggers fire events through the sensor processes,
exactly one replica fires (the lease holder), a killed holder is replaced within the lease TTL, and
rule changes reach the timers through ``<p>.rule.changed``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from attune_sensor.timers.lease import TIMER_LEASE_KEY
from attune_shared.bus import Bus, RuleChanged
from attune_shared.bus.specs import LEASES_BUCKET
from attune_shared.models import Rule
from attune_shared.packs import register_core_pack
from attune_shared.repos import RuleRepository, TriggerRepository
from tests.sensor.helpers import wait_for
from tests.shared.factories import make_action, make_pack, make_rule

TTL = 3.0


@dataclass(frozen=True)
class TimerEvent:
    scheduled_at: datetime
    fired_at: datetime
    payload: dict[str, Any]
    rule: int | None
    source_ref: str | None
    dedup_id: str


async def timer_events(db: asyncpg.Pool, rule_ref: str) -> list[TimerEvent]:
    rows = await db.fetch(
        "SELECT payload, rule, source_ref, dedup_id FROM event WHERE rule_ref = $1", rule_ref
    )
    events = [
        TimerEvent(
            datetime.fromisoformat(r["payload"]["scheduled_at"]),
            datetime.fromisoformat(r["payload"]["fired_at"]),
            r["payload"],
            r["rule"],
            r["source_ref"],
            r["dedup_id"],
        )
        for r in rows
    ]
    return sorted(events, key=lambda e: e.scheduled_at)


async def timer_rule(db: asyncpg.Pool, ref: str, trigger_ref: str, params: dict[str, Any]) -> Rule:
    await register_core_pack(db)
    trigger = await TriggerRepository(db).get_by_ref(trigger_ref)
    assert trigger is not None
    pack = await make_pack(db, "demo")
    return await make_rule(
        db,
        ref,
        trigger=trigger,
        action=await make_action(db),
        pack=pack.id,
        pack_ref=pack.ref,
        trigger_params=params,
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def test_two_replicas_fire_each_slot_once_and_hand_over(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    rule = await timer_rule(db_pool, "demo.tick", "core.intervaltimer", {"unit": "seconds", "interval": 1})
    env = {"ATTUNE__SENSOR__TIMER_LEASE_TTL": str(TTL)}
    replicas = [await spawn_service("attune-sensor", env=env) for _ in range(2)]

    start = _now().replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=10)

    async def window_closed() -> list[TimerEvent]:
        events = await timer_events(db_pool, rule.ref)
        return events if events and events[-1].scheduled_at >= end else []

    events = await wait_for(window_closed, 25, "timer events past a 10 s window")
    in_window = [e for e in events if start <= e.scheduled_at < end]
    assert 9 <= len(in_window) <= 11, [e.scheduled_at for e in events]
    assert len({e.scheduled_at for e in events}) == len(events)
    assert {(e.rule, e.source_ref) for e in events} == {(rule.id, "timer")}
    assert {e.payload["rule_ref"] for e in events} == {rule.ref}
    assert all(e.payload["type"] == "interval" and e.payload["interval_seconds"] == 1 for e in events)

    # exactly one replica fired: the one holding the lease, as the KV store says
    holders = [r for r in replicas if '"msg": "lease.acquired"' in r.output()]
    assert len(holders) == 1
    holder, survivor = holders[0], next(r for r in replicas if r is not holders[0])
    kv = await nats_client.jetstream().key_value(bus.spec.bucket(LEASES_BUCKET))
    assert json.loads((await kv.get(TIMER_LEASE_KEY)).value)["pid"] == holder.pid

    killed_at = _now()
    await holder.kill()
    await survivor.wait_for_log('"msg": "lease.acquired"', timeout=TTL + 5)

    async def fired_after_kill() -> list[TimerEvent]:
        return [e for e in await timer_events(db_pool, rule.ref) if e.fired_at > killed_at]

    first = (await wait_for(fired_after_kill, TTL + 5, "a timer event after the kill"))[0]
    assert (first.fired_at - killed_at).total_seconds() <= TTL + 1.5
    await wait_for(lambda: _at_least(fired_after_kill(), 4), 10, "the survivor to keep firing")
    events = await timer_events(db_pool, rule.ref)
    assert len({e.scheduled_at for e in events}) == len(events)  # never a slot twice
    # the survivor fires on the same grid of slots (the rule's updated time + k seconds)
    grid = {(e.scheduled_at - rule.updated) % timedelta(seconds=1) for e in events}
    assert grid == {timedelta(0)}


async def test_rule_changes_reach_the_timers(
    spawn_service, db_pool: asyncpg.Pool, nats_client: NatsClient, bus: Bus
) -> None:
    await register_core_pack(db_pool)
    # reconciling is turned off in effect: only rule.changed can tell the sensor
    sensor = await spawn_service("attune-sensor", env={"ATTUNE__SENSOR__TIMER_RECONCILE_INTERVAL": "600"})
    rules = RuleRepository(db_pool)

    async def changed(rule: Rule, op: str) -> None:
        await bus.rule_changed(
            RuleChanged(rule_ref=rule.ref, trigger_ref=rule.trigger_ref, enabled=rule.enabled, op=op)  # type: ignore[arg-type]
        )

    # created
    tick = await timer_rule(db_pool, "demo.tick", "core.intervaltimer", {"unit": "seconds", "interval": 0.5})
    await changed(tick, "created")
    await wait_for(lambda: _at_least(timer_events(db_pool, "demo.tick"), 2), 5, "interval events")

    # updated: now a cron timer with seconds, in a time zone
    cron = await TriggerRepository(db_pool).get_by_ref("core.crontimer")
    assert cron is not None
    params = {"expression": "* * * * * *", "timezone": "Asia/Tokyo"}
    tick2 = await rules.update(
        "demo.tick", {"trigger": cron.id, "trigger_ref": cron.ref, "trigger_params": params}
    )
    assert tick2 is not None
    await changed(tick2, "updated")

    async def cron_events() -> list[TimerEvent]:
        return [e for e in await timer_events(db_pool, "demo.tick") if e.payload["type"] == "cron"]

    for event in await wait_for(lambda: _at_least(cron_events(), 2), 5, "cron events"):
        assert event.scheduled_at.microsecond == 0
        assert event.payload["expression"] == "* * * * * *"
        assert event.payload["timezone"] == "Asia/Tokyo"

    # disabled: no more events
    tick3 = await rules.update("demo.tick", {"enabled": False})
    assert tick3 is not None
    await changed(tick3, "disabled")
    await sensor.wait_for_log('"msg": "timer.removed"', timeout=5)
    removed_at = _logged_at(sensor.output(), "timer.removed")

    async def after_removal() -> list[TimerEvent]:
        return [e for e in await timer_events(db_pool, "demo.tick") if e.scheduled_at > removed_at]

    with pytest.raises(AssertionError, match="timed out"):
        await wait_for(after_removal, 2, "no slot after the timer was removed")

    # a one-shot datetime fires once; one in the past is refused with a log line
    fire_at = (_now() + timedelta(seconds=2)).replace(microsecond=0)
    once = await timer_rule(db_pool, "demo.once", "core.datetimetimer", {"fire_at": fire_at.isoformat()})
    past = await timer_rule(
        db_pool, "demo.past", "core.datetimetimer", {"fire_at": "2020-01-01T00:00:00", "timezone": "UTC"}
    )
    await changed(once, "created")
    await changed(past, "created")
    await sensor.wait_for_log('"msg": "timer.in_past"', timeout=5)
    fired = await wait_for(lambda: _at_least(timer_events(db_pool, "demo.once"), 1), 6, "the one-shot")
    assert fired[0].scheduled_at == fire_at and fired[0].payload["type"] == "datetime"
    with pytest.raises(AssertionError, match="timed out"):
        await wait_for(lambda: _at_least(timer_events(db_pool, "demo.once"), 2), 2, "no second event")
    assert await timer_events(db_pool, "demo.past") == []


def _logged_at(output: str, msg: str) -> datetime:
    line = next(line for line in output.splitlines() if f'"msg": "{msg}"' in line)
    return datetime.fromisoformat(json.loads(line)["ts"])


async def _at_least(events, n: int) -> list[TimerEvent]:  # type: ignore[no-untyped-def]
    found = await events
    return found if len(found) >= n else []
