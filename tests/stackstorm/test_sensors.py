"""Pack sensors run as supervised child processes of the sensor service, one replica at a time."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from attune_shared.bus import Bus
from attune_shared.models import KeyScope
from attune_shared.packs import RegistrationReport, register_pack
from attune_shared.repos import KeyRepository, SensorProcessRepository, SensorRepository
from attune_shared.st2compat import SENSOR_WRAPPER
from attune_shared.statuses import ExecutionStatus

from ..executor.helpers import executions_of, wait_for
from ..sensor.helpers import count_events
from .conftest import StartExecutor, StartSensor
from .processes import parent_of, processes_running

pytestmark = pytest.mark.slow


async def _events(db: asyncpg.Pool, trigger_ref: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT payload, source_ref, trace_tag FROM event WHERE trigger_ref = $1 ORDER BY id", trigger_ref
    )


def _sensor_processes() -> dict[int, str]:
    return processes_running(str(SENSOR_WRAPPER))


async def test_pack_sensors_dispatch_events_that_fire_rules_and_stop_with_the_service(
    db_pool: asyncpg.Pool,
    registered: RegistrationReport,
    st2demo: Path,
    start_sensor: StartSensor,
    start_executor: StartExecutor,
) -> None:
    inbox = st2demo.parent.parent / "inbox"
    before = set(_sensor_processes())
    first = await start_sensor()
    second = await start_sensor()  # a second replica: each sensor still runs once
    await start_executor()

    async def both_running() -> dict[str, int] | None:
        rows = await SensorProcessRepository(db_pool).of(["st2demo.CounterSensor", "st2demo.InboxWatcher"])
        running = {ref: row.pid for ref, row in rows.items() if row.status == "running" and row.pid}
        return running if len(running) == 2 else None

    pids = await wait_for(both_running, 20, "both sensors running")
    assert set(_sensor_processes()) - before == set(pids.values())  # one process per sensor, not two

    # the polling sensor: a tick (its counter in the datastore), an event, its rule's execution
    ticks = await wait_for(lambda: _events(db_pool, "st2demo.tick"), 20, "a tick")
    assert ticks[0]["payload"] == {"count": 1}
    assert ticks[0]["source_ref"] == "sensor:st2demo.CounterSensor"
    key = await KeyRepository(db_pool).get(KeyScope.SYSTEM, "", "st2demo.CounterSensor:count")
    assert key is not None and int(key.value) >= 1
    await wait_for(lambda: executions_of(db_pool, "st2demo.nothing"), 20, "the tick rule's execution")

    # the long-running sensor: a file dropped in the inbox -> an event -> greet -> (action trigger) -> hello
    (inbox / "greet-ann").write_text("Ann")
    [seen] = await wait_for(lambda: _events(db_pool, "st2demo.file_seen"), 20, "the file event")
    assert seen["payload"] == {"name": "greet-ann", "content": "Ann"}
    assert seen["trace_tag"] == "greet-ann"

    async def hello_done() -> list | None:
        done = [x for x in await executions_of(db_pool, "st2demo.hello") if x.status.is_terminal]
        return done or None

    [hello] = await wait_for(hello_done, 30, "the chained hello execution")
    assert hello.status is ExecutionStatus.COMPLETED, hello.result
    assert hello.rule_ref == "st2demo.after_greet" and hello.trigger_ref == "core.st2.generic.actiontrigger"
    assert hello.config["name"] == "hi Ann"  # from the greet result, through the action trigger
    assert hello.result is not None and hello.result["result"]["message"] == "HELLO HI ANN!"
    [greet] = await executions_of(db_pool, "st2demo.greet")
    assert greet.rule_ref == "st2demo.on_file" and greet.trace_tag == "greet-ann"

    # the replica running the watcher stops: cleanup runs, the other replica takes it over
    holder_pid = await _parent_of(db_pool, "st2demo.InboxWatcher")
    holder, other = (first, second) if holder_pid == first.pid else (second, first)
    assert await holder.terminate() == 0
    assert (inbox / ".cleaned-up").read_text() == "st2demo.file_seen"  # cleanup ran; add_trigger had run
    (inbox / ".cleaned-up").unlink()

    async def all_on_other() -> bool:
        rows = await SensorProcessRepository(db_pool).of(["st2demo.CounterSensor", "st2demo.InboxWatcher"])
        if not all(r.status == "running" for r in rows.values()):
            return False
        return {await _parent_of(db_pool, ref) for ref in rows} == {other.pid}

    await wait_for(all_on_other, 20, "the other replica to run both sensors")
    assert len(set(_sensor_processes()) - before) == 2
    # the watcher taken over is past its setup (a stop while it still imports has nothing to clean up)
    (inbox / "greet-bo").write_text("Bo")

    async def second_file_seen() -> list | None:
        return [
            e for e in await _events(db_pool, "st2demo.file_seen") if e["trace_tag"] == "greet-bo"
        ] or None

    await wait_for(second_file_seen, 30, "the taken-over watcher's event")
    assert await other.terminate() == 0
    assert set(_sensor_processes()) - before == set()  # SIGTERM left no sensor process behind
    assert (inbox / ".cleaned-up").exists()
    rows = await SensorProcessRepository(db_pool).of(["st2demo.CounterSensor", "st2demo.InboxWatcher"])
    assert {r.status for r in rows.values()} == {"stopped"}


async def _parent_of(db: asyncpg.Pool, sensor_ref: str) -> int | None:
    """The pid of the sensor service running a sensor (the parent of its process)."""
    row = (await SensorProcessRepository(db).of([sensor_ref]))[sensor_ref]
    return parent_of(row.pid)


#: The methods a sensor must have, and these test sensors do nothing in.
NOTHING_ELSE = """
    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
"""

CRASHING = """
import time

from st2reactor.sensor.base import Sensor


class Crashing(Sensor):
    def setup(self):
        pass

    def run(self):
        time.sleep(0.3)
        raise RuntimeError("the feed went away")
"""

FLOODING = """
from st2reactor.sensor.base import Sensor


class Flooding(Sensor):
    def setup(self):
        pass

    def run(self):
        for n in range(400):
            self.sensor_service.dispatch("crashy.burst", {"n": n})
        self.sensor_service.dispatch("crashy.burst", {"n": -1, "pad": "x" * 4096})
        self.sensor_service.dispatch("crashy.burst", {"n": "not a number"})
        self.sensor_service.dispatch("crashy.nope", {"n": 0})
        while True:
            import time

            time.sleep(1)
"""


def _crashy_pack(root: Path) -> Path:
    pack = root / "crashy"
    (pack / "sensors").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: crashy\ndescription: d\nversion: 1.0.0\nauthor: tests\n")
    (pack / "sensors" / "crashing.yaml").write_text("class_name: Crashing\nentry_point: crashing.py\n")
    (pack / "sensors" / "crashing.py").write_text(CRASHING + NOTHING_ELSE)
    (pack / "sensors" / "flooding.yaml").write_text(
        "class_name: Flooding\nentry_point: flooding.py\ntrigger_types:\n  - name: burst\n"
        "    payload_schema: {type: object, properties: {n: {type: integer}}, required: [n]}\n"
    )
    (pack / "sensors" / "flooding.py").write_text(FLOODING + NOTHING_ELSE)
    return pack


async def test_a_crashing_sensor_is_restarted_with_backoff_and_a_flood_goes_through_ingest(
    db_pool: asyncpg.Pool, bus: Bus, nats_client: NatsClient, tmp_path: Path, start_sensor: StartSensor
) -> None:
    await register_pack(db_pool, _crashy_pack(tmp_path))
    sensor = await start_sensor(MAX_PAYLOAD_BYTES="2048", SENSOR_RESTART_MAX_DELAY="4")

    async def restarted(times: int) -> object:
        row = (await SensorProcessRepository(db_pool).of(["crashy.Crashing"])).get("crashy.Crashing")
        return row if row is not None and row.restarts >= times else None

    row = await wait_for(lambda: restarted(3), 30, "three restarts")
    assert row.last_error is not None and "the feed went away" in row.last_error
    assert 'Sensor "Crashing" run method raised an exception' in row.last_error
    assert row.last_error_at is not None

    # every valid dispatch is an event; the rest are dead letters with their reason, none lost
    async def all_stored() -> bool:
        return await count_events(db_pool, "crashy.burst") == 400

    await wait_for(all_stored, 60, "400 burst events")
    letters = await _dead_letter_reasons(nats_client, bus)
    assert letters == {"too_large": 1, "schema_violation": 1, "unknown_trigger": 1}

    # the pauses between restarts doubled up to the maximum (4 s here), each exit reported
    await wait_for(lambda: restarted(4), 30, "four restarts")
    pauses = [
        line["restart_in"]
        for line in map(json.loads, sensor.output().splitlines())
        if line.get("msg") == "sensor.exited" and line.get("sensor") == "crashy.Crashing"
    ]
    assert pauses[:4] == [1.0, 2.0, 4.0, 4.0]

    disabled = await SensorRepository(db_pool).update("crashy.Flooding", {"enabled": False})
    assert disabled is not None

    async def stopped() -> bool:
        row = (await SensorProcessRepository(db_pool).of(["crashy.Flooding"]))["crashy.Flooding"]
        return row.status == "stopped"

    await wait_for(stopped, 20, "the disabled sensor to stop")


async def _dead_letter_reasons(nc: NatsClient, bus: Bus) -> dict[str, int]:
    info = await nc.jsm().stream_info(bus.spec.dlq_stream, subjects_filter=">")
    prefix = f"{bus.spec.prefix}.dlq."
    return {subject.removeprefix(prefix): n for subject, n in (info.state.subjects or {}).items()}
