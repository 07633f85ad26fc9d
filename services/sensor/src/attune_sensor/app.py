"""The sensor process: ingest trigger messages into events, fire timers and run pack sensors (each
by one replica at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from attune_sensor.ingest import Ingestor
from attune_sensor.packsensors.process import SensorContext
from attune_sensor.packsensors.supervisor import PackSensors
from attune_sensor.timers.lease import Lease
from attune_sensor.timers.scheduler import TimerScheduler
from attune_shared.bus import BatchConsumer, Credits, RuleChanged
from attune_shared.bus.specs import LEASES_BUCKET, SENSOR_TRIGGERS
from attune_shared.datastore import Datastore
from attune_shared.errors import AttuneError
from attune_shared.metrics import TIMER_LEADER, serve_metrics
from attune_shared.runtime import connect, follow_rule_changes, ready
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings

SERVICE = "sensor"

log = logging.getLogger("attune.sensor")


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    """Run until ``stopping`` is set; then stop fetching, settle the batch in hand, release the lease."""
    sensor = settings.sensor
    async with connect(settings, SERVICE) as rt:
        serve_metrics(sensor.metrics_port, sensor.metrics_host)
        ingestor = Ingestor(rt.pool, rt.bus, sensor)
        # two batches in flight: one is stored while the previous one is announced and settled
        triggers = BatchConsumer(
            rt.broker.connection,
            rt.spec,
            SENSOR_TRIGGERS,
            ingestor.parse,
            ingestor.handle,
            rt.settler,
            Credits(2 * sensor.batch_size),
            rt.gate,
            batch_size=sensor.batch_size,
        )
        lease = Lease(rt.broker.connection, rt.spec.bucket(LEASES_BUCKET), sensor.timer_lease_ttl)
        timers = TimerScheduler(rt.pool, rt.bus, lease, reconcile_every=sensor.timer_reconcile_interval)
        sensors = PackSensors(
            SensorContext(
                rt.pool,
                rt.bus,
                rt.broker.connection,
                rt.spec.bucket(LEASES_BUCKET),
                Datastore(rt.pool, SecretBox.of(settings.security)),
                settings,
            )
        )

        def on_lease(held: bool) -> None:
            TIMER_LEADER.set(1 if held else 0)
            timers.wake()

        lease.on_change = on_lease

        async def on_rule_changed(change: RuleChanged) -> None:
            ingestor.cache.rules_changed()
            await timers.on_rule_changed(change)
            await sensors.on_rule_changed(change)

        rules = await follow_rule_changes(rt, on_rule_changed)
        await timers.reconcile()
        await triggers.start()
        background = [
            asyncio.create_task(triggers.run(), name="ingest"),
            asyncio.create_task(lease.run(stopping), name="lease"),
            asyncio.create_task(timers.run(), name="timers"),
            asyncio.create_task(sensors.run(), name="pack sensors"),
        ]
        ready(SERVICE, consumer=SENSOR_TRIGGERS, batch_size=sensor.batch_size, timers=len(timers.timers))
        try:
            await _until_stopped(stopping, background)
        finally:
            # No new fetch; the batch in hand is stored, announced and settled; the lease is released.
            log.info("service.stopping", extra={"service_name": SERVICE})
            stopping.set()
            triggers.stop()
            timers.stop()
            sensors.stop()  # SIGTERM to every pack sensor; cleanup runs; leases released
            await asyncio.gather(*background, return_exceptions=True)
            with contextlib.suppress(Exception):
                await rules.unsubscribe()
        # leaving `connect` drains the connection (pending acks)


async def _until_stopped(stopping: asyncio.Event, background: list[asyncio.Task[None]]) -> None:
    stop = asyncio.create_task(stopping.wait())
    try:
        done, _ = await asyncio.wait([stop, *background], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    for task in done:
        if task is not stop and not task.cancelled() and task.exception() is not None:
            raise AttuneError(f"{task.get_name()} failed: {task.exception()!r}") from task.exception()
