"""Trigger messages -> event rows -> ``<p>.event.created``, settled only after both.

The sensor pulls from the shared durable consumer ``sensor`` with nats-py and handles each fetch as
one batch: every message is checked, the valid ones are stored with ONE ``INSERT`` (a redelivered
message maps to the row it already made), ``event.created`` is published for each stored event
(new or not: a lost publish is repaired by the redelivery), and only then is every message settled
through the bus's :class:`~attune_shared.bus.Settler`: ack, dead letter (bad input) or delayed nak.

Why not a FastStream subscriber: FastStream runs its pipeline (middlewares, dependency injection,
body decoding) once per message, which costs several times more than storing the event (about
1,500 events/s against 7,000 measured on 2 cores), and it decodes a body labelled
``content-type: application/json`` before any handler runs, so a malformed one would be retried
instead of dead-lettered. docs/sensor.md has the numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from attune_sensor.catalog import Catalog, TtlCache
from attune_sensor.database import DatabaseGate, is_bad_data, is_unavailable
from attune_sensor.payload import Reason, TriggerMessage, read_message
from attune_shared.bus import Bus, EventCreated, Settler
from attune_shared.bus.specs import SENSOR_TRIGGERS
from attune_shared.errors import DatabaseUnavailableError, PermanentError, RetryableError
from attune_shared.metrics import EVENTS_STORED, INGEST_BATCH_SECONDS, TRIGGER_MESSAGES, TRIGGER_REJECTED
from attune_shared.repos import EventRepository, NewEvent, StoredEvent
from attune_shared.settings import SensorSettings

log = logging.getLogger("attune.sensor.ingest")

#: Long poll for the first message of a batch; also the longest a stop waits for an idle fetch.
FETCH_WAIT = 2.0
#: A batch INSERT taking longer than this counts as the database being away.
STATEMENT_TIMEOUT = 15.0
#: A batch in hand for longer than this is reported (with what it waits for), and again as long as it lasts.
SLOW_BATCH = 10.0

Outcome = BaseException | None
V = TypeVar("V")


class Ingestor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        settler: Settler,
        settings: SensorSettings,
        stopping: asyncio.Event,
        *,
        ack_wait: float,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.settler = settler
        self.settings = settings
        self.stopping = stopping
        self.catalog = Catalog(pool, settings.trigger_cache_ttl, timeout=STATEMENT_TIMEOUT)
        self.gate = DatabaseGate(pool)
        #: while the database is away, tell JetStream this often that held messages are in progress
        self.keepalive_every = ack_wait / 3
        #: what the batch in hand is waiting for (reported when a batch is slow)
        self.stage = "fetch"
        self._fetch_failures = 0
        self._fetch_failure_logged = 0.0

    # -- consuming -----------------------------------------------------------------------------

    async def subscribe(self, nc: NatsClient) -> JetStreamContext.PullSubscription:
        """Bind to the durable consumer (provisioned by the runtime)."""
        return await nc.jetstream().pull_subscribe_bind(
            durable=SENSOR_TRIGGERS, stream=self.bus.spec.triggers_stream
        )

    async def run(self, sub: JetStreamContext.PullSubscription) -> None:
        """Fetch and handle batches until ``stopping`` is set; the batch in hand is always finished."""
        try:
            while not self.stopping.is_set():
                batch = await self.fetch(sub)
                if not batch:
                    continue
                watchdog = asyncio.get_running_loop().call_later(
                    SLOW_BATCH, self._report_slow, len(batch), time.monotonic()
                )
                try:
                    await self.handle(batch)
                except Exception as exc:
                    log.error("batch.failed", exc_info=exc)
                    await self._settle(batch, [exc] * len(batch))
                finally:
                    watchdog.cancel()
                    self.stage = "fetch"
        finally:
            try:
                await sub.unsubscribe()
            except (NatsError, OSError, TimeoutError):
                pass

    def _report_slow(self, size: int, started: float) -> None:
        log.warning(
            "batch.slow",
            extra={"messages": size, "seconds": round(time.monotonic() - started, 1), "stage": self.stage},
        )
        # and again while it lasts
        asyncio.get_running_loop().call_later(SLOW_BATCH, self._report_slow_again, size, started)

    def _report_slow_again(self, size: int, started: float) -> None:
        if self.stage != "fetch":
            self._report_slow(size, started)

    async def fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Up to ``sensor.batch_size`` messages: as soon as any are there, all that are there.

        Waits up to :data:`FETCH_WAIT` for the first. A stop does not cancel a waiting fetch: a
        cancelled pull request stays open on the server and would capture messages that nobody
        handles until their ``ack_wait`` runs out.
        """
        try:
            batch = await sub.fetch(self.settings.batch_size, timeout=FETCH_WAIT)
        except TimeoutError:
            return []
        except (NatsError, OSError) as exc:
            self._fetch_failures += 1
            now = time.monotonic()
            if now - self._fetch_failure_logged > 30:  # not one line per attempt while NATS is away
                self._fetch_failure_logged = now
                log.warning(
                    "fetch.failed",
                    extra={"error": f"{type(exc).__name__}: {exc}", "failures": self._fetch_failures},
                )
            await _sleep_unless(self.stopping, 0.5)
            return []
        self._fetch_failures = 0
        return batch

    # -- one batch -----------------------------------------------------------------------------

    async def handle(self, batch: list[Msg]) -> None:
        """Store, announce and settle one fetched batch."""
        outcomes: list[Outcome] = [None] * len(batch)
        incoming: list[tuple[int, TriggerMessage]] = []
        for i, msg in enumerate(batch):
            try:
                incoming.append((i, read_message(msg, self.bus.subjects, self.settings.max_payload_bytes)))
            except Exception as exc:
                outcomes[i] = exc
        stored = await self._store(batch, incoming, outcomes)
        self.stage = "announce"
        announced = await self._announce([event for _, event in stored])
        for (i, _), problem in zip(stored, announced, strict=True):
            outcomes[i] = problem
        self.stage = "settle"
        await self._settle(batch, outcomes)
        self._count(stored, outcomes)

    async def _settle(self, batch: list[Msg], outcomes: list[Outcome]) -> None:
        settled = await asyncio.gather(
            *(self.settler.settle(m, o) for m, o in zip(batch, outcomes, strict=True)), return_exceptions=True
        )
        failures = [r for r in settled if isinstance(r, BaseException)]
        if failures:
            # unsettled messages come back after ack_wait; nothing is lost
            log.warning("settle.failed", extra={"count": len(failures), "error": repr(failures[0])})

    async def _store(
        self, batch: list[Msg], incoming: list[tuple[int, TriggerMessage]], outcomes: list[Outcome]
    ) -> list[tuple[int, StoredEvent]]:
        """Events for the valid messages (``outcomes`` gets the problems); waits out a database outage."""
        while incoming:
            try:
                self.stage = "waiting for the database"
                await self.gate.wait_up(self.stopping, _keepalive(batch), self.keepalive_every)
            except DatabaseUnavailableError as exc:
                for i, _ in incoming:
                    outcomes[i] = exc
                return []
            try:
                self.stage = "check"
                events = await self._events(incoming, outcomes)
                self.stage = "insert"
                results = await self._insert([event for _, event in events])
            except Exception as exc:
                if is_unavailable(exc) or isinstance(exc, TimeoutError):
                    self.gate.report_down(exc)
                    continue
                log.error("events.store_failed", exc_info=exc)
                for i, _ in incoming:
                    outcomes[i] = RetryableError(f"storing events failed: {type(exc).__name__}: {exc}")
                return []
            if any(isinstance(r, DatabaseUnavailableError) for r in results):
                continue  # the gate is down: wait, then store the whole batch again
            stored: list[tuple[int, StoredEvent]] = []
            for (i, _), result in zip(events, results, strict=True):
                if isinstance(result, BaseException):
                    outcomes[i] = result
                else:
                    stored.append((i, result))
            return stored
        return []

    async def _events(
        self, incoming: list[tuple[int, TriggerMessage]], outcomes: list[Outcome]
    ) -> list[tuple[int, NewEvent]]:
        """The event rows of the messages whose trigger accepts them."""
        triggers = await _lookup(self.catalog.triggers, {m.trigger_ref for _, m in incoming})
        rule_ids = await _lookup(self.catalog.rule_ids, {m.rule_ref for _, m in incoming if m.rule_ref})
        events: list[tuple[int, NewEvent]] = []
        for i, message in incoming:
            trigger = triggers[message.trigger_ref]
            try:
                if trigger is None:
                    raise PermanentError(Reason.UNKNOWN_TRIGGER, f"no trigger {message.trigger_ref!r}")
                if not trigger.enabled:
                    raise PermanentError(
                        Reason.DISABLED_TRIGGER, f"trigger {message.trigger_ref!r} is disabled"
                    )
                if trigger.schema_error is not None:
                    raise PermanentError(Reason.BAD_TRIGGER_SCHEMA, trigger.schema_error)
                violation = trigger.violation(message.payload)
                if violation is not None:
                    raise PermanentError(Reason.SCHEMA_VIOLATION, violation)
            except PermanentError as exc:
                outcomes[i] = exc
                continue
            events.append(
                (
                    i,
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

    async def _insert(self, events: list[NewEvent]) -> list[StoredEvent | BaseException]:
        """One INSERT for all; one outcome per event. A row PostgreSQL refuses is dead-lettered alone."""
        if not events:
            return []
        started = time.perf_counter()
        try:
            async with asyncio.timeout(STATEMENT_TIMEOUT):
                stored = await EventRepository(self.pool).insert_many(events)
        except Exception as exc:
            if is_bad_data(exc):
                if len(events) == 1:
                    return [PermanentError(Reason.UNSTORABLE, f"{type(exc).__name__}: {exc}"[:500])]
                results: list[StoredEvent | BaseException] = []
                for event in events:
                    results.extend(await self._insert([event]))
                return results
            if is_unavailable(exc) or isinstance(exc, TimeoutError):
                self.gate.report_down(exc)
                return [DatabaseUnavailableError(f"storing events: {type(exc).__name__}: {exc}")] * len(
                    events
                )
            log.error("events.store_failed", exc_info=exc)
            return [RetryableError(f"storing events failed: {type(exc).__name__}: {exc}") for _ in events]
        INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        return list(stored)

    async def _announce(self, events: list[StoredEvent]) -> list[RetryableError | None]:
        return await self.bus.event_created_many(
            [EventCreated(event_id=e.id, created=e.created, trigger_ref=e.trigger_ref) for e in events]
        )

    def _count(self, stored: list[tuple[int, StoredEvent]], outcomes: list[Outcome]) -> None:
        for i, event in stored:
            if outcomes[i] is None:
                TRIGGER_MESSAGES.labels("event" if event.new else "duplicate").inc()
                if event.new:
                    EVENTS_STORED.labels(event.trigger_ref).inc()
        for outcome in outcomes:
            if isinstance(outcome, PermanentError):
                TRIGGER_MESSAGES.labels("rejected").inc()
                TRIGGER_REJECTED.labels(outcome.reason).inc()


async def _lookup(cache: TtlCache[str, V], keys: set[str]) -> dict[str, V]:
    """Look ``keys`` up concurrently; the first failure is raised once all are done."""
    refs = list(keys)
    found = await asyncio.gather(*(cache.get(ref) for ref in refs), return_exceptions=True)
    for value in found:
        if isinstance(value, BaseException):
            raise value
    return dict(zip(refs, cast(list[V], found), strict=True))


def _keepalive(msgs: list[Msg]) -> Callable[[], Awaitable[object]]:
    async def keepalive() -> None:
        await asyncio.gather(*(m.in_progress() for m in msgs), return_exceptions=True)

    return keepalive


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
