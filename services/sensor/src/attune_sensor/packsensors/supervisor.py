"""The pack sensors of the catalog, each run by exactly one sensor replica.

Every replica keeps one :class:`SensorProcess` per enabled StackStorm sensor (a ``class_name`` in
a registered pack): each competes for that sensor's lease and runs it while holding it. The set is
reloaded from the database every ``sensor.sensors_reconcile_interval`` seconds (a new, changed,
disabled or removed sensor); a changed sensor or pack is restarted. Rule changes update the
triggers the running sensors are told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from attune_sensor.packsensors.process import SensorContext, SensorProcess
from attune_sensor.packsensors.triggers import triggers_for
from attune_shared.bus import RuleChanged
from attune_shared.models import Pack, Rule, Sensor
from attune_shared.outage import is_unavailable
from attune_shared.packs.config import opened
from attune_shared.repos import PackRepository, RuleRepository, SensorRepository

log = logging.getLogger("attune.sensor.pack")

#: A sensor runs again from scratch when its row or its pack's row changes.
Identity = tuple[datetime, datetime]


class PackSensors:
    def __init__(self, ctx: SensorContext) -> None:
        self.ctx = ctx
        self.processes: dict[str, tuple[Identity, SensorProcess]] = {}
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Reconcile until :meth:`stop`; then stop every sensor process."""
        interval = self.ctx.settings.sensor.sensors_reconcile_interval
        try:
            while not self._stopping.is_set():
                try:
                    await self.reconcile()
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    log.warning("sensors.reconcile_failed", extra={"error": str(exc)})
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), interval)
        finally:
            await asyncio.gather(*(p.stop() for _, p in self.processes.values()), return_exceptions=True)
            self.processes.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def on_rule_changed(self, change: RuleChanged) -> None:
        """A rule on one of our sensors' trigger types changed: reload at once."""
        if any(change.trigger_ref in p.sensor.trigger_types for _, p in self.processes.values()):
            self._changed.set()

    async def reconcile(self) -> None:
        """Start, restart and stop sensor processes to match the catalog; refresh their triggers."""
        sensors = [s for s in await SensorRepository(self.ctx.pool).list(enabled=True) if s.class_name]
        packs = await PackRepository(self.ctx.pool).get_by_refs({s.pack_ref for s in sensors})
        rules = await RuleRepository(self.ctx.pool).enabled_for_triggers(
            sorted({t for s in sensors for t in s.trigger_types})
        )
        wanted: dict[str, tuple[Identity, Sensor, Pack]] = {}
        for sensor in sensors:
            pack = opened(packs.get(sensor.pack_ref), self.ctx.datastore.box)
            if pack is not None and pack.path:
                wanted[sensor.ref] = ((sensor.updated, pack.updated), sensor, pack)
        for ref in list(self.processes):
            identity, process = self.processes[ref]
            if ref not in wanted or wanted[ref][0] != identity:
                del self.processes[ref]
                log.info(
                    "sensor.stopping", extra={"sensor": ref, "why": "changed" if ref in wanted else "removed"}
                )
                await process.stop()
        for ref, (identity, sensor, pack) in wanted.items():
            triggers = triggers_for(sensor, _rules_of(sensor, rules))
            if ref in self.processes:
                await self.processes[ref][1].set_triggers(triggers)
                continue
            process = SensorProcess(self.ctx, sensor, pack, triggers)
            self.processes[ref] = (identity, process)
            process.start()


def _rules_of(sensor: Sensor, rules: list[Rule]) -> list[Rule]:
    return [r for r in rules if r.trigger_ref in sensor.trigger_types]
