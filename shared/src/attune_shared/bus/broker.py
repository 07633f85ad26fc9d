"""The FastStream broker every service uses, and :class:`Bus`, the typed publisher of the contract."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from attune_shared.bus.messages import (
    MSG_ID_HEADER,
    RULE_HEADER,
    SOURCE_HEADER,
    TRACE_TAG_HEADER,
    BusMessage,
    Change,
    DeadLetter,
    EnforcementCreated,
    EventCreated,
    ExecutionRequested,
    ExecutionStatusChanged,
    RuleChanged,
    utcnow,
)
from attune_shared.bus.pubacks import PubAckInbox
from attune_shared.bus.specs import BusSpec
from attune_shared.errors import RetryableError, ServerSetupError
from attune_shared.settings import NatsSettings

log = logging.getLogger("attune.bus")

#: Publishes sent together by :meth:`Bus.event_created_many` before awaiting their PubAcks.
PUBLISH_MANY_CHUNK = 1000


def bus_spec(settings: NatsSettings, lease_ttl: float = 10.0) -> BusSpec:
    """The bus topology for these settings."""
    return BusSpec(prefix=settings.prefix, replicas=settings.replicas, lease_ttl=lease_ttl)


def describe_nats_url(url: str) -> str:
    """The servers of a NATS URL list without credentials, for messages."""
    return ",".join(
        f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}"
        for parts in (urlsplit(server.strip()) for server in url.split(","))
    )


def nats_refused(exc: BaseException) -> bool:
    """NATS refused our credentials (no use retrying)."""
    return "authorization violation" in str(exc).lower()


def nats_unusable(url: str, exc: BaseException) -> ServerSetupError:
    """The one-line cause and fix of a NATS server Attune cannot connect to."""
    where = describe_nats_url(url)
    if nats_refused(exc):
        return ServerSetupError(
            f"NATS at {where} refused the credentials ({str(exc).removeprefix('nats: ')}): put the right "
            "user and password (nats://user:password@host:4222) or token in ATTUNE__NATS__URL"
        )
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (no answer)"
    return ServerSetupError(
        f"cannot connect to NATS at {where}: {reason}; check ATTUNE__NATS__URL and that nats-server is running"
    )


def make_broker(settings: NatsSettings, service: str) -> NatsBroker:
    """A FastStream NATS broker that reconnects forever (publishers, core subscriptions, AsyncAPI)."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats.error", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def on_disconnected() -> None:
        log.warning("nats.disconnected")

    async def on_reconnected() -> None:
        log.info("nats.reconnected")

    quiet = logging.getLogger(f"attune.{service}.faststream")
    quiet.setLevel(logging.WARNING)
    return NatsBroker(
        [server.strip() for server in settings.url.split(",")],
        name=f"attune-{service}",
        connect_timeout=max(1, round(settings.connect_timeout)),
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        graceful_timeout=30.0,
        logger=quiet,
        log_level=logging.DEBUG,
    )


async def stop_broker(broker: NatsBroker) -> None:
    """Stop subscribers and close the connection, also when NATS is away (drain would refuse)."""
    try:
        await broker.stop()
    except (NatsError, TimeoutError, OSError) as exc:
        log.warning("nats.stop_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        connection = broker._connection
        if connection is not None and not connection.is_closed:
            await connection.close()


class Bus:
    """Publishing on the bus contract (design.md §3), straight through nats-py.

    Work messages (triggers, event/enforcement/execution wake-ups, rule changes, dead letters) wait
    for the stream's PubAck; a failure raises :class:`RetryableError`, so the caller's inbound
    message is redelivered. Status announcements are notifications of committed rows: they are
    published without waiting for a PubAck (the UPDATES stream still stores them; nats-py buffers
    them across a reconnect), which keeps a round trip per status change off every execution.
    (FastStream's per-publish pipeline measured twice the cost of nats-py's; the AsyncAPI document
    still declares every publisher, see :mod:`attune_shared.bus.docs`.) Bodies are JSON by contract
    and carry no ``content-type`` header (FastStream decodes a JSON body without one): nats-py
    encodes headers anew on every publish, which was a fifth of an announcement's cost.
    """

    def __init__(self, broker: NatsBroker, spec: BusSpec, *, timeout: float = 5.0) -> None:
        self.broker = broker
        self.spec = spec
        self.subjects = spec.subjects
        self.timeout = timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._pubacks: PubAckInbox | None = None

    @property
    def _connection(self) -> NatsClient:
        # FastStream's ``broker.connection`` composes its configuration on every read (3 % of the
        # sensor's CPU in an ingest burst, one read per notice); the nats-py client it returns
        # stays the same across reconnects
        if self._nc is None:
            self._nc = self.broker.connection
        return self._nc

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            self._js = self._connection.jetstream()
        return self._js

    async def _publish(
        self, body: BusMessage | bytes, subject: str, stream: str, headers: dict[str, str] | None = None
    ) -> PubAck:
        data = body if isinstance(body, bytes) else body.model_dump_json().encode()
        try:
            return await self._jetstream().publish(
                subject,
                data,
                timeout=self.timeout,
                stream=stream,
                headers=headers or None,
            )
        except (NatsError, TimeoutError, OSError) as exc:
            raise _publish_failed(subject, exc) from exc

    async def _notify(self, body: BusMessage | bytes, subject: str) -> None:
        data = body if isinstance(body, bytes) else body.model_dump_json().encode()
        try:
            await self._connection.publish(subject, data)
        except (NatsError, OSError) as exc:
            raise _publish_failed(subject, exc) from exc

    async def event_created_many(
        self, events: Sequence[tuple[int, datetime, str]]
    ) -> list[RetryableError | None]:
        """Publish ``event.created`` for many stored events, each given as ``(id, created,
        trigger_ref)``; one outcome per event (``None`` = stored), de-duplicated by event id.

        The publishes are written in one go and their PubAcks awaited together
        (:class:`~attune_shared.bus.pubacks.PubAckInbox`), several times cheaper per message than
        one publish at a time.
        """
        body = EventCreated.body
        return await self._publish_many(
            self.subjects.event_created,
            self.spec.work_stream,
            [(body(i, created, ref), {MSG_ID_HEADER: f"event.{i}"}) for i, created, ref in events],
        )

    async def events_unheard(self, events: Sequence[tuple[int, datetime, str]]) -> None:
        """Tell live followers of stored events no enabled rule uses (no wake-up needed), each
        given as ``(id, created, trigger_ref)``: plain NATS, nothing stored, no PubAck."""
        subject, body = self.subjects.event_unheard, EventCreated.body
        for event_id, created, trigger_ref in events:
            await self._notify(body(event_id, created, trigger_ref), subject)

    async def _publish_many(
        self, subject: str, stream: str, items: list[tuple[bytes, dict[str, str]]]
    ) -> list[RetryableError | None]:
        outcomes: list[RetryableError | None] = []
        for start in range(0, len(items), PUBLISH_MANY_CHUNK):
            outcomes += await self._publish_chunk(subject, stream, items[start : start + PUBLISH_MANY_CHUNK])
        return outcomes

    async def _publish_chunk(
        self, subject: str, stream: str, items: list[tuple[bytes, dict[str, str]]]
    ) -> list[RetryableError | None]:
        if self._pubacks is None:
            self._pubacks = PubAckInbox(self._connection)
        outcomes = await self._pubacks.publish_many(subject, stream, items, self.timeout)
        return [None if error is None else _publish_failed(subject, error) for error in outcomes]

    async def enforcement_created(self, msg: EnforcementCreated) -> None:
        await self._publish(
            msg,
            self.subjects.enforcement_created,
            self.spec.work_stream,
            {MSG_ID_HEADER: f"enforcement.{msg.enforcement_id}"},
        )

    async def enforcements_processed(self, enforcements: Sequence[tuple[int, datetime, str]]) -> None:
        """Tell live followers of enforcements created resolved (no wake-up needed), each given as
        ``(id, created, rule_ref)``: plain NATS, nothing stored, no PubAck."""
        subject, body = self.subjects.enforcement_processed, EnforcementCreated.body
        for enforcement_id, created, rule_ref in enforcements:
            await self._notify(body(enforcement_id, created, rule_ref), subject)

    async def execution_requested_many(
        self, msgs: Sequence[ExecutionRequested]
    ) -> list[RetryableError | None]:
        """Publish many ``execution.requested`` at once, as :meth:`event_created_many` (no message
        id, as :meth:`execution_requested`)."""
        return await self._publish_many(
            self.subjects.execution_requested,
            self.spec.work_stream,
            [(m.model_dump_json().encode(), {}) for m in msgs],
        )

    async def execution_requested(self, msg: ExecutionRequested) -> None:
        # No message id: a queued execution is legitimately requested again within the dedup window.
        await self._publish(msg, self.subjects.execution_requested, self.spec.work_stream)

    async def execution_status(
        self,
        execution_id: int,
        created: datetime,
        action_ref: str,
        changes: Iterable[Change],
        at: datetime | None = None,
    ) -> None:
        """Announce committed status changes of one execution, in order, one
        :class:`ExecutionStatusChanged` each, made ``at`` (default: now; no PubAck wait; see the
        class docstring)."""
        subject = self.subjects.execution_status(action_ref)
        bodies = ExecutionStatusChanged.bodies(execution_id, created, action_ref, changes, at or utcnow())
        publish = self._connection.publish  # not through _notify: five per execution
        try:
            for body in bodies:
                await publish(subject, body)
        except (NatsError, OSError) as exc:
            raise _publish_failed(subject, exc) from exc

    async def cancel_requested(self, msg: ExecutionStatusChanged) -> None:
        """Ask the executor running an execution to stop it (plain NATS, in no stream: every
        executor replica listens; each also re-reads its running executions periodically)."""
        await self._notify(msg, self.subjects.execution_cancel)

    async def rule_changed(self, msg: RuleChanged) -> None:
        await self._publish(msg, self.subjects.rule_changed, self.spec.updates_stream)

    async def dead_letter(self, letter: DeadLetter, headers: dict[str, str]) -> None:
        await self._publish(letter, self.subjects.dlq(letter.reason), self.spec.dlq_stream, headers)

    async def trigger(
        self,
        trigger_ref: str,
        payload: dict[str, Any] | bytes,
        *,
        msg_id: str | None = None,
        trace_tag: str | None = None,
        rule_ref: str | None = None,
        source: str | None = None,
    ) -> PubAck:
        """Publish a trigger payload to ``<p>.trigger.<trigger_ref>`` (timers, webhooks, the CLI).

        ``rule_ref`` targets one rule (the event's ``rule_ref``; timers use it), ``source`` becomes
        the event's ``source_ref`` (``timer``, ``webhook``, …; the sensor stores ``nats`` without it).
        """
        headers: dict[str, str] = {}
        if msg_id:
            headers[MSG_ID_HEADER] = msg_id
        if trace_tag:
            headers[TRACE_TAG_HEADER] = trace_tag
        if rule_ref:
            headers[RULE_HEADER] = rule_ref
        if source:
            headers[SOURCE_HEADER] = source
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self._publish(
            data, self.subjects.trigger(trigger_ref), self.spec.triggers_stream, headers
        )


def _publish_failed(subject: str, exc: BaseException) -> RetryableError:
    return RetryableError(f"publish to {subject} failed: {type(exc).__name__}: {exc}")


async def gather_bounded(calls: Iterable[Awaitable[Any]], limit: int = 256) -> list[Any]:
    """Await many publishes with at most ``limit`` in flight; the first failure is raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> Any:
        async with semaphore:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
