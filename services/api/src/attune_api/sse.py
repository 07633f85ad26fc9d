"""Live streams (SSE) fed from NATS: one subscription per API process, fanned out to bounded client queues.

- Execution status changes come from an ordered JetStream consumer on the UPDATES stream
  (``<p>.execution.status.>``, new messages only), so each carries its **stream sequence**, used
  as the SSE ``id``. A client reconnecting with ``Last-Event-ID: <seq>`` is registered first,
  then the gap ``seq+1 … last`` is replayed from the stream (direct gets, at most
  ``api.sse_replay_max``), then the live messages follow, without duplicates.
- Events and enforcements come from plain core-NATS subscriptions to both subjects of each
  (``event.*``, ``enforcement.*``): the wake-ups are on the work-queue stream, where no second
  consumer may overlap (JetStream delivers to plain subscribers too), and the others are in no
  stream. Their SSE ``id`` is the row id and a resume replays newer rows from the database.
- A channel is followed only while a client is connected to it: the first client's registration
  subscribes (and returns once the subscription is in place, so nothing published after it is
  missed), the last client's departure unsubscribes. With no client, the API costs the event path
  nothing (a status consumer would be fed every execution's every change).
- Every client has a queue of ``api.sse_queue_size`` messages. A client that falls that far
  behind is dropped: its queue is emptied and it receives one ``dropped`` event, then the
  stream ends (it may reconnect with ``Last-Event-ID``). Memory per client is bounded.
- A replay is bounded too: one that stops at its limit with more to send ends with a ``dropped``
  event as well, and the client resumes from the last id it got. Nothing is skipped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError
from sse_starlette import ServerSentEvent

from attune_api.metrics import SSE_CLIENTS, SSE_DROPPED
from attune_shared.bus import BusSpec, EnforcementCreated, EventCreated, ExecutionStatusChanged
from attune_shared.errors import RetryableError

log = logging.getLogger("attune.api.sse")

EXECUTIONS, EVENTS, ENFORCEMENTS = "executions", "events", "enforcements"


@dataclass(frozen=True)
class Item:
    """One message for clients: the SSE ``event`` name, ``id`` (sequence or row id) and JSON ``data``."""

    event: str
    id: int | None
    data: dict[str, Any]

    @property
    def final(self) -> bool:
        """A ``dropped`` item: the stream ends after it (see :func:`dropped`)."""
        return self.event == "dropped"

    def sse(self) -> ServerSentEvent:
        return ServerSentEvent(
            data=json.dumps(self.data, separators=(",", ":")),
            event=self.event,
            id=None if self.id is None else str(self.id),
        )


def dropped(why: str) -> Item:
    """The last item of a stream that ends before the client is up to date (a ``dropped`` event)."""
    return Item("dropped", None, {"detail": f"{why}; reconnect with Last-Event-ID to continue"})


#: Queue markers: the hub dropped this client (too slow), or the hub is shutting down.
DROPPED = dropped("this client fell too far behind and was dropped")
CLOSED = Item("closed", None, {})


@dataclass(eq=False)
class Client:
    channel: str
    accepts: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[Item]
    gone: bool = field(default=False)


class Hub:
    """The process-wide fan-out."""

    def __init__(self, nc: NatsClient, spec: BusSpec, queue_size: int, watch_interval: float = 1.0) -> None:
        self.nc = nc
        self.spec = spec
        self.queue_size = queue_size
        self.watch_interval = watch_interval
        self._clients: dict[str, set[Client]] = {EXECUTIONS: set(), EVENTS: set(), ENFORCEMENTS: set()}
        #: the NATS subscription of each channel that has clients
        self._followed: dict[str, Subscription] = {}
        #: stream sequence of the last status change received, to resume after a reconnect
        self._last_seq: int | None = None
        self._reconnects = 0
        self._watcher: asyncio.Task[None] | None = None
        #: (un)subscribing, one at a time: a registration never races the last client's departure
        self._lock = asyncio.Lock()
        self._releases: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Watch for reconnects; NATS itself is followed only while clients are connected."""
        self._reconnects = self.nc.stats["reconnects"]
        self._watcher = asyncio.create_task(self._watch())

    async def _follow(self, channel: str) -> None:
        subjects = self.spec.subjects
        if channel == EXECUTIONS:
            await self._subscribe_statuses()
            return
        if channel == EVENTS:
            self._followed[EVENTS] = await self.nc.subscribe(subjects.events, cb=self._on_event)
        else:
            self._followed[ENFORCEMENTS] = await self.nc.subscribe(
                subjects.enforcements, cb=self._on_enforcement
            )

    async def _subscribe_statuses(self) -> None:
        """The ordered consumer of status changes after the last one seen (at first: after the stream's
        current last message), so a resubscription after a reconnect loses nothing."""
        self._reconnects = self.nc.stats["reconnects"]
        if self._last_seq is None:
            self._last_seq = (await self.nc.jsm().stream_info(self.spec.updates_stream)).state.last_seq
        self._followed[EXECUTIONS] = await self.nc.jetstream().subscribe(
            self.spec.subjects.execution_statuses,
            stream=self.spec.updates_stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._last_seq + 1
            ),
            cb=self._on_status,
        )

    async def _release(self, channel: str) -> None:
        """Unsubscribe a channel whose last client left (unless one came back meanwhile)."""
        async with self._lock:
            if self._clients[channel] or channel not in self._followed:
                return
            sub = self._followed.pop(channel)
            if channel == EXECUTIONS:
                self._last_seq = None  # the next first client starts from the stream's end
            await _unsubscribe(sub)

    async def _watch(self) -> None:
        """Core subscriptions survive reconnects; an ordered JetStream consumer may not (the server it
        lived on restarted), so after every reconnect it is recreated from the last sequence seen."""
        while True:
            await asyncio.sleep(self.watch_interval)
            if not self.nc.is_connected or self.nc.stats["reconnects"] == self._reconnects:
                continue
            async with self._lock:
                if not self._clients[EXECUTIONS]:  # nobody follows the statuses: nothing to recreate
                    self._reconnects = self.nc.stats["reconnects"]
                    continue
                old = self._followed.pop(EXECUTIONS, None)
                if old is not None:
                    await _unsubscribe(old)
                try:
                    await self._subscribe_statuses()
                    log.info("sse.resubscribed", extra={"after_seq": self._last_seq})
                except Exception as exc:  # NATS is back but not ready yet: try again next round
                    self._reconnects = -1
                    log.warning("sse.resubscribe_failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self) -> None:
        """Unsubscribe and end every client's stream."""
        for task in [*self._releases, *([self._watcher] if self._watcher else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watcher = None
        for sub in self._followed.values():
            await _unsubscribe(sub)
        self._followed = {}
        for clients in self._clients.values():
            for client in list(clients):
                self._end(client, CLOSED)

    # -- clients --------------------------------------------------------------------------------
    async def register(self, channel: str, accepts: Callable[[dict[str, Any]], bool]) -> Client:
        """A new client of ``channel``; live messages published after this returns reach it."""
        client = Client(channel, accepts, asyncio.Queue(self.queue_size))
        async with self._lock:
            if channel not in self._followed:
                try:
                    await self._follow(channel)
                except (NatsError, TimeoutError, OSError) as exc:  # the client gets a 503
                    raise RetryableError(f"following {channel}: {type(exc).__name__}: {exc}") from exc
            self._clients[channel].add(client)
        SSE_CLIENTS.labels(channel).inc()
        return client

    def unregister(self, client: Client) -> None:
        clients = self._clients[client.channel]
        if client in clients:
            clients.discard(client)
            SSE_CLIENTS.labels(client.channel).dec()
            if not clients:
                task = asyncio.get_running_loop().create_task(self._release(client.channel))
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)

    def clients(self, channel: str) -> int:
        return len(self._clients[channel])

    def dispatch(self, channel: str, item: Item) -> None:
        for client in list(self._clients[channel]):
            try:
                if not client.accepts(item.data):
                    continue
            except Exception:  # a filter must never break the fan-out
                continue
            try:
                client.queue.put_nowait(item)
            except asyncio.QueueFull:
                SSE_DROPPED.labels(channel).inc()
                log.warning("sse.client_dropped", extra={"channel": channel, "queue_size": self.queue_size})
                self._end(client, DROPPED)

    def _end(self, client: Client, marker: Item) -> None:
        self.unregister(client)
        client.gone = True
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(marker)

    # -- NATS callbacks ---------------------------------------------------------------------------
    async def _on_status(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if self._last_seq is not None and seq <= self._last_seq:
            return  # already dispatched (a consumer recreated after a reconnect starts after it anyway)
        self._last_seq = seq
        body = _parse(ExecutionStatusChanged, msg)
        if body is not None:
            self.dispatch(EXECUTIONS, Item("execution", seq, _status_data(body)))

    async def _on_event(self, msg: Msg) -> None:
        body = _parse(EventCreated, msg)
        if body is not None:
            self.dispatch(EVENTS, Item("event", body.event_id, body.model_dump(mode="json", exclude={"v"})))

    async def _on_enforcement(self, msg: Msg) -> None:
        body = _parse(EnforcementCreated, msg)
        if body is not None:
            data = body.model_dump(mode="json", exclude={"v"})
            self.dispatch(ENFORCEMENTS, Item("enforcement", body.enforcement_id, data))

    # -- replay -----------------------------------------------------------------------------------
    async def replay_statuses(self, after_seq: int, limit: int) -> AsyncIterator[Item]:
        """Status changes with a stream sequence above ``after_seq`` (as of now), oldest first; at
        most ``limit``, then a :func:`dropped` item if there are more."""
        if limit <= 0:
            return
        jsm = self.nc.jsm()
        stream = self.spec.updates_stream
        state = (await jsm.stream_info(stream)).state
        seq, sent = max(after_seq + 1, state.first_seq, 1), 0
        while seq <= state.last_seq:
            if sent == limit:
                yield dropped(f"more than {limit} status changes to replay")
                return
            try:
                raw = await jsm.get_msg(stream, seq, subject=self.spec.subjects.execution_statuses, next=True)
            except NotFoundError:
                return
            if raw.seq is None or raw.seq > state.last_seq:
                return
            try:
                body = ExecutionStatusChanged.model_validate_json(raw.data or b"")
            except ValidationError:
                seq = raw.seq + 1
                continue
            yield Item("execution", raw.seq, _status_data(body))
            sent += 1
            seq = raw.seq + 1


async def _unsubscribe(sub: Subscription) -> None:
    try:
        await sub.unsubscribe()
    except Exception as exc:  # a dead connection or a consumer already gone is fine
        log.debug("sse.unsubscribe_failed", extra={"error": str(exc)})


def _status_data(body: ExecutionStatusChanged) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude={"v"})


def _parse(model: type[Any], msg: Msg) -> Any:
    try:
        parsed: BaseModel = model.model_validate_json(msg.data)
    except ValidationError as exc:
        log.warning("sse.bad_message", extra={"subject": msg.subject, "error": str(exc)[:200]})
        return None
    return parsed


async def follow(
    hub: Hub,
    client: Client,
    prelude: Callable[[], AsyncIterator[Item]],
    skip_through: int | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """The SSE events of one client: what ``prelude`` yields (snapshot, replay), then live messages;
    a ``dropped`` item, from either, is the last.

    The client is registered (by the caller, before the response starts) before the prelude runs,
    so nothing published meanwhile is lost; live messages the prelude already sent (same id), or at
    or below ``skip_through``, are skipped.
    """
    sent: set[int] = set()
    try:
        async for item in prelude():
            yield item.sse()
            if item.final:
                return
            if item.id is not None:
                sent.add(item.id)
        while True:
            item = await client.queue.get()
            if item is CLOSED:
                return
            if item.final:
                yield item.sse()
                return
            if item.id is not None and (
                item.id in sent or (skip_through is not None and item.id <= skip_through)
            ):
                continue
            yield item.sse()
    finally:
        hub.unregister(client)
