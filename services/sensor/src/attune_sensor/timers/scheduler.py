"""Timers: one per enabled rule on a timer trigger, configured by the rule's ``trigger_params``.

Every replica keeps the same table (reconciled from the database at start and periodically, and
updated on ``<p>.rule.changed``); only the lease holder fires. A slot is published to
``<p>.trigger.<trigger_ref>`` with the message id ``timer:<rule_ref>:<slot>``, so a slot fired twice
(by an old and a new leader, or across a restart) is stored once: JetStream drops the copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from attune_sensor.timers.lease import Lease
from attune_sensor.timers.schedule import (
    ST2_TIMER_TRIGGERS,
    TIMER_TRIGGERS,
    Schedule,
    ScheduleError,
    schedule_for,
)
from attune_shared.bus import Bus, RuleChanged, gather_bounded
from attune_shared.errors import RetryableError
from attune_shared.metrics import TIMER_FIRES, TIMERS
from attune_shared.models import Rule
from attune_shared.outage import is_unavailable
from attune_shared.repos import RuleRepository, TriggerRepository

log = logging.getLogger("attune.sensor.timers")

#: A slot missed by more than this (no leader, NATS away) is skipped rather than fired late.
#: Below JetStream's 2-minute duplicate window, so a late slot can never be stored twice.
GRACE = timedelta(seconds=60)
#: Pause before retrying a slot whose publish failed.
RETRY_DELAY = 0.5
#: A query of the timer table taking longer than this counts as the database being away.
QUERY_TIMEOUT = 15.0
SOURCE = "timer"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Timer:
    rule_ref: str
    trigger_ref: str
    schedule: Schedule
    #: what the timer was built from; a rule whose identity changed gets a new timer
    identity: tuple[str, str, datetime]
    next_slot: datetime | None

    def due(self, now: datetime) -> bool:
        return self.next_slot is not None and self.next_slot <= now


def message_id(rule_ref: str, slot: datetime) -> str:
    """The ``Nats-Msg-Id`` of a slot: the same on every replica."""
    return f"timer:{rule_ref}:{slot.astimezone(UTC).isoformat(timespec='microseconds')}"


class TimerScheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        lease: Lease,
        *,
        reconcile_every: float,
        grace: timedelta = GRACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.lease = lease
        self.reconcile_every = reconcile_every
        self.grace = grace
        self.clock = clock
        self.timers: dict[str, Timer] = {}
        self._invalid: dict[str, tuple[str, str, datetime]] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopped = False
        self._next_reconcile = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    # -- the table -----------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Make the table match the enabled timer rules in the database."""
        async with self._lock:
            async with asyncio.timeout(QUERY_TIMEOUT):
                enabled = await self._enabled_triggers()
                rules = await RuleRepository(self.pool).enabled_for_triggers(list(TIMER_TRIGGERS))
            rules = [r for r in rules if r.trigger_ref in enabled]
            for rule in rules:
                self._apply(rule)
            for ref in set(self.timers) - {r.ref for r in rules}:
                self._remove(ref, "disabled or deleted")
        self._next_reconcile = time.monotonic() + self.reconcile_every
        TIMERS.set(len(self.timers))
        self._wake.set()

    async def on_rule_changed(self, change: RuleChanged) -> None:
        """``<p>.rule.changed``: reload that one rule (the database is authoritative)."""
        if change.trigger_ref not in TIMER_TRIGGERS and change.rule_ref not in self.timers:
            return
        try:
            async with self._lock:
                async with asyncio.timeout(QUERY_TIMEOUT):
                    rule = await RuleRepository(self.pool).get_by_ref(change.rule_ref)
                    enabled = await self._enabled_triggers()
                if rule is None or not rule.enabled or rule.trigger_ref not in enabled:
                    self._remove(change.rule_ref, change.op)
                else:
                    self._apply(rule)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("timer.reload_failed", extra={"rule_ref": change.rule_ref, "error": str(exc)})
            self._next_reconcile = 0.0  # reconcile as soon as the database answers
        TIMERS.set(len(self.timers))
        self._wake.set()

    async def _enabled_triggers(self) -> set[str]:
        """The timer triggers that are enabled: a disabled one fires nothing (rather than dead letters)."""
        triggers = await TriggerRepository(self.pool).get_by_refs(TIMER_TRIGGERS)
        return {ref for ref, trigger in triggers.items() if trigger.enabled}

    def _apply(self, rule: Rule) -> None:
        identity = (rule.trigger_ref, json.dumps(rule.trigger_params, sort_keys=True), rule.updated)
        current = self.timers.get(rule.ref)
        if current is not None and current.identity == identity:
            return
        try:
            schedule = schedule_for(rule.trigger_ref, rule.trigger_params, rule.updated)
        except ScheduleError as exc:
            self.timers.pop(rule.ref, None)
            if self._invalid.get(rule.ref) != identity:  # once per version of the rule
                self._invalid[rule.ref] = identity
                log.warning("timer.invalid", extra={"rule_ref": rule.ref, "error": str(exc)})
            return
        self._invalid.pop(rule.ref, None)
        first = schedule.next_after(self.clock() - self.grace)
        self.timers[rule.ref] = Timer(rule.ref, rule.trigger_ref, schedule, identity, first)
        if first is None:
            # kept (idle) so that reconciling does not report it again
            log.warning("timer.in_past", extra={"rule_ref": rule.ref, "trigger_params": rule.trigger_params})
            return
        log.info(
            "timer.scheduled",
            extra={"rule_ref": rule.ref, "trigger_ref": rule.trigger_ref, "next": first.isoformat()},
        )

    def _remove(self, rule_ref: str, why: str) -> None:
        if self.timers.pop(rule_ref, None) is not None:
            log.info("timer.removed", extra={"rule_ref": rule_ref, "why": why})

    # -- firing --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire due slots while holding the lease; reconcile periodically; return after :meth:`stop`."""
        while not self._stopped:
            if time.monotonic() >= self._next_reconcile:
                try:
                    await self.reconcile()
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    log.warning("timer.reconcile_failed", extra={"error": str(exc)})
                    self._next_reconcile = time.monotonic() + 1.0
            failed = False
            if self.lease.held():
                failed = await self.fire_due()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._delay(failed))
            except TimeoutError:
                pass

    async def fire_due(self) -> bool:
        """Publish every due slot; returns whether any publish failed."""
        now = self.clock()
        due = [t for t in self.timers.values() if t.due(now)]
        results = await gather_bounded((self._fire(t, now) for t in due), limit=64)
        return not all(results)

    async def _fire(self, timer: Timer, now: datetime) -> bool:
        slot = timer.next_slot
        assert slot is not None
        if slot < now - self.grace:
            slot = timer.schedule.next_after(now - self.grace)
            TIMER_FIRES.labels(timer.trigger_ref, "skipped").inc()
            log.warning("timer.missed", extra={"rule_ref": timer.rule_ref, "slot": timer.next_slot})
            if slot is None or slot > now:
                timer.next_slot = slot
                return True
        # Coalesce: after a gap (a new leader, NATS away) only the latest due slot fires.
        while (following := timer.schedule.next_after(slot)) is not None and following <= now:
            slot = following
        if not self.lease.held():
            return True
        fired_at = self.clock()
        payload: dict[str, Any] = {
            "fired_at": fired_at.isoformat(),
            "scheduled_at": slot.isoformat(),
            "rule_ref": timer.rule_ref,
            "type": timer.schedule.kind,
            **timer.schedule.describe(),
        }
        if timer.trigger_ref in ST2_TIMER_TRIGGERS:  # StackStorm's payload, beside this project's fields
            payload.update(executed_at=str(fired_at), schedule=None)
        try:
            ack = await self.bus.trigger(
                timer.trigger_ref,
                payload,
                msg_id=message_id(timer.rule_ref, slot),
                rule_ref=timer.rule_ref,
                source=SOURCE,
            )
        except RetryableError as exc:
            log.warning("timer.publish_failed", extra={"rule_ref": timer.rule_ref, "error": str(exc)})
            return False
        timer.next_slot = timer.schedule.next_after(slot)
        TIMER_FIRES.labels(timer.trigger_ref, "duplicate" if ack.duplicate else "published").inc()
        return True

    def _delay(self, failed: bool) -> float:
        until_reconcile = max(self._next_reconcile - time.monotonic(), 0.0)
        if not self.lease.held():
            return min(until_reconcile, 5.0)
        if failed:
            return RETRY_DELAY
        now = self.clock()
        slots = [t.next_slot for t in self.timers.values() if t.next_slot is not None]
        until_slot = max((min(slots) - now).total_seconds(), 0.0) if slots else 5.0
        return min(until_slot, until_reconcile, 5.0)
