"""Trigger messages -> event rows -> ``<p>.event.created``, settled only after both.

The sensor reads the shared durable consumer ``sensor`` through the bus
:class:`~attune_shared.bus.BatchConsumer`, so each group of arrivals is one batch: every message is
checked (:func:`read_message`; a bad one is dead-lettered with its reason), the valid ones are stored
with ONE ``INSERT`` (a redelivered message maps to the row it already made), each stored event is
announced (new or not: a lost announcement is repaired by the redelivery), and only then is every
message settled. ``event.created`` wakes the executor for the events of a trigger an enabled rule
uses; the others can match nothing, so only live followers are told, on ``event.unheard``. A
database outage raises out of :meth:`Ingestor.handle`; the consumer holds the batch and hands it
over again once the database answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import asyncpg
from nats.aio.msg import Msg

from attune_sensor.payload import Reason, TriggerMessage, read_message
from attune_sensor.trigger_cache import TriggerCache
from attune_shared.bus import Bus, Delivery
from attune_shared.errors import DatabaseUnavailableError, PermanentError, RetryableError
from attune_shared.metrics import EVENTS_STORED, INGEST_BATCH_SECONDS, TRIGGER_MESSAGES
from attune_shared.outage import is_bad_data, is_unavailable
from attune_shared.repos import EventRepository, NewEvent, StoredEvent
from attune_shared.settings import SensorSettings

log = logging.getLogger("attune.sensor.ingest")

#: A batch INSERT taking longer than this counts as the database being away.
STATEMENT_TIMEOUT = 15.0


class Ingestor:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, settings: SensorSettings) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings
        self.cache = TriggerCache(pool, settings.trigger_cache_ttl, timeout=STATEMENT_TIMEOUT)

    def parse(self, msg: Msg) -> TriggerMessage:
        """Check one message before the database is asked anything (raises :class:`PermanentError`)."""
        try:
            return read_message(msg, self.bus.subjects, self.settings.max_payload_bytes)
        except PermanentError:
            TRIGGER_MESSAGES.labels("rejected").inc()
            raise

    async def handle(self, deliveries: list[Delivery[TriggerMessage]]) -> None:
        """Store and announce one batch; each delivery's ``error`` says how to settle it."""
        for d in deliveries:
            d.error = None  # a batch held through an outage is handled again from scratch
        events = await self._events(deliveries)
        results = await self._insert([event for _, event in events])
        stored: list[tuple[Delivery[TriggerMessage], StoredEvent]] = []
        for (d, _), result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                d.error = result
            else:
                stored.append((d, result))
        heard = await self.cache.heard({e.trigger_ref for _, e in stored})
        woken = [(d, e) for d, e in stored if heard[e.trigger_ref]]
        told = [(d, e) for d, e in stored if not heard[e.trigger_ref]]
        problems = await self.bus.event_created_many([(e.id, e.created, e.trigger_ref) for _, e in woken])
        problems += await self._tell(told)
        # counted per batch: a labelled counter's lookup and lock per event were 3 % of the sensor
        outcomes: Counter[str] = Counter()
        new_events: Counter[str] = Counter()
        for (d, event), problem in zip(woken + told, problems, strict=True):
            d.error = problem
            if problem is None:
                outcomes["event" if event.new else "duplicate"] += 1
                if event.new:
                    new_events[event.trigger_ref] += 1
                    log.info(
                        "event.stored",
                        extra={
                            "event": event.id,
                            "trigger": event.trigger_ref,
                            "trace_tag": d.body.trace_tag,
                        },
                    )
        outcomes["rejected"] = sum(isinstance(d.error, PermanentError) for d in deliveries)
        for outcome, n in outcomes.items():
            if n:
                TRIGGER_MESSAGES.labels(outcome).inc(n)
        for trigger_ref, n in new_events.items():
            EVENTS_STORED.labels(trigger_ref).inc(n)

    async def _events(
        self, deliveries: list[Delivery[TriggerMessage]]
    ) -> list[tuple[Delivery[TriggerMessage], NewEvent]]:
        """The event rows of the messages whose trigger accepts them; the others get their reason."""
        triggers = await self.cache.triggers({d.body.trigger_ref for d in deliveries})
        rule_ids = await self.cache.rule_ids({d.body.rule_ref for d in deliveries if d.body.rule_ref})
        events: list[tuple[Delivery[TriggerMessage], NewEvent]] = []
        for d in deliveries:
            message, trigger = d.body, triggers[d.body.trigger_ref]
            if trigger is None:
                d.error = PermanentError(Reason.UNKNOWN_TRIGGER, f"no trigger {message.trigger_ref!r}")
            elif not trigger.enabled:
                d.error = PermanentError(
                    Reason.DISABLED_TRIGGER, f"trigger {message.trigger_ref!r} is disabled"
                )
            elif trigger.schema_error is not None:
                d.error = PermanentError(Reason.BAD_TRIGGER_SCHEMA, trigger.schema_error)
            elif (violation := trigger.violation(message.payload)) is not None:
                d.error = PermanentError(Reason.SCHEMA_VIOLATION, violation)
            else:
                events.append(
                    (
                        d,
                        NewEvent(
                            created=message.created,
                            trigger_ref=message.trigger_ref,
                            payload=message.payload,
                            dedup_id=message.dedup_id,
                            trigger=trigger.id,
                            source_ref=message.source_ref,
                            rule=rule_ids.get(message.rule_ref) if message.rule_ref else None,
                            rule_ref=message.rule_ref,
                            trace_tag=message.trace_tag,
                        ),
                    )
                )
        return events

    async def _tell(
        self, stored: list[tuple[Delivery[TriggerMessage], StoredEvent]]
    ) -> list[RetryableError | None]:
        """Events no rule listens to wake nobody; live followers are told (plain NATS, no PubAck)."""
        try:
            await self.bus.events_unheard([(e.id, e.created, e.trigger_ref) for _, e in stored])
        except RetryableError as exc:
            return [exc] * len(stored)
        return [None] * len(stored)

    async def _insert(self, events: list[NewEvent]) -> list[StoredEvent | BaseException]:
        """One INSERT for all; one outcome per event. A row PostgreSQL refuses is dead-lettered alone;
        an outage raises (the consumer holds the batch)."""
        if not events:
            return []
        started = time.perf_counter()
        try:
            async with asyncio.timeout(STATEMENT_TIMEOUT):
                stored = await EventRepository(self.pool).insert_many(events)
        except Exception as exc:
            if is_unavailable(exc):
                raise DatabaseUnavailableError(f"storing events: {type(exc).__name__}: {exc}") from exc
            if not is_bad_data(exc):
                log.error("events.store_failed", exc_info=exc)
                return [RetryableError(f"storing events failed: {type(exc).__name__}: {exc}") for _ in events]
            if len(events) == 1:
                return [PermanentError(Reason.UNSTORABLE, f"{type(exc).__name__}: {exc}"[:500])]
            results: list[StoredEvent | BaseException] = []
            for event in events:
                results.extend(await self._insert([event]))
            return results
        INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        return list(stored)
