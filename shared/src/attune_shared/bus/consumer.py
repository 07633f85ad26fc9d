"""Batch consumption of a shared durable pull consumer, with backpressure.

Why not FastStream's subscriber here: it runs its pipeline (middlewares, dependency injection,
body decoding) once per message, which measured several times the cost of the work itself
(docs/decisions.md has the numbers), its batch mode waits to fill a batch (latency at low rates),
and its pull loop fetches again only once a whole batch is handled. nats-py's ``fetch(batch=n)``
also waits client-side for ``n`` messages or its timeout.

So: one pull request at a time is kept open on a private inbox, for exactly the number of
messages the consumer has :class:`Credits` for; messages are handed out the moment they arrive,
each group of arrivals is handled as one batch (the handler does its database work in a few
statements), and every message is settled through the bus :class:`~attune_shared.bus.Settler`
(ack, delayed nak or dead letter) once the handler is done. What a replica cannot take stays in
the stream for the others. A batch that fails because the database is away is held — kept in
progress — and handled again when the :class:`~attune_shared.outage.DatabaseGate` opens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import Header
from pydantic import BaseModel

from attune_shared.bus.settle import Settler
from attune_shared.bus.specs import BusSpec
from attune_shared.health import HEALTH
from attune_shared.outage import DatabaseGate, is_unavailable

log = logging.getLogger("attune.bus.consumer")

B = TypeVar("B")
Model = TypeVar("Model", bound=BaseModel)

#: How long past its expiry a pull request may go unanswered before it is taken as lost (a reconnect).
LOST_AFTER = 2.0
#: Status codes that end a pull request.
_ENDS = {"404", "408", "409"}
#: While the database is away, held messages are marked in progress this often (ack_wait is 30 s+).
KEEPALIVE = 10.0
#: Longest a consumer with ``room`` waits for room before it takes a batch anyway.
ROOM_WAIT_MAX = 0.5


class PullFetcher:
    """One durable pull consumer, read through a private inbox, one request at a time."""

    def __init__(self, nc: NatsClient, stream: str, durable: str, *, expires: float = 1.0) -> None:
        self.nc = nc
        self.api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.durable = durable
        self.expires = expires
        self.inbox = nc.new_inbox()
        #: messages arrived and not handed out yet
        self.arrived: list[Msg] = []
        #: messages the open request may still deliver
        self.outstanding = 0
        #: set whenever something arrives
        self.changed = asyncio.Event()
        self._deadline = 0.0
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NatsError:
                pass
            self._sub = None

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS) if msg.headers else None
        if not status:
            self.arrived.append(msg)
            self.outstanding = max(self.outstanding - 1, 0)
        elif status in _ENDS:
            self.outstanding = 0
            if status == "409":
                description = msg.headers.get(Header.DESCRIPTION, "") if msg.headers else ""
                log.warning(
                    "fetch.status",
                    extra={"durable": self.durable, "status": status, "description": description},
                )
        self.changed.set()

    @property
    def idle(self) -> bool:
        """No request is open (a lost one counts as ended once its time is well past)."""
        if self.outstanding and time.monotonic() > self._deadline:
            log.warning(
                "fetch.request_lost", extra={"durable": self.durable, "outstanding": self.outstanding}
            )
            self.outstanding = 0
        return self.outstanding == 0

    async def request(self, n: int) -> None:
        """Ask for up to ``n`` messages, delivered as they come within ``expires`` seconds."""
        body = json.dumps({"batch": n, "expires": int(self.expires * 1e9)}).encode()
        try:
            await self.nc.publish(self.api, body, reply=self.inbox)
        except NatsError as exc:
            log.warning("fetch.request_failed", extra={"durable": self.durable, "error": str(exc)})
            return
        self.outstanding = n
        self._deadline = time.monotonic() + self.expires + LOST_AFTER

    def take(self, limit: int) -> list[Msg]:
        """Up to ``limit`` of the messages that arrived."""
        taken, self.arrived = self.arrived[:limit], self.arrived[limit:]
        if not self.arrived:
            self.changed.clear()
        return taken

    def drain(self) -> list[Msg]:
        """Every message that arrived and was not taken."""
        return self.take(len(self.arrived))


class Credits:
    """Free capacity: a consumer takes one per fetched message; whoever finishes the work gives it
    back, which wakes the consumers sharing these credits."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._listeners: list[asyncio.Event] = []

    @property
    def free(self) -> int:
        return self.total - self.used

    def listen(self, event: asyncio.Event) -> None:
        self._listeners.append(event)

    def take(self, n: int) -> None:
        self.used += n

    def give(self, n: int = 1) -> None:
        self.used -= n
        for event in self._listeners:
            event.set()


class Credit:
    """One credit held by work that goes on after its batch (an action run): given back by
    :meth:`release`, once, by whoever ends that work."""

    def __init__(self, credits: Credits) -> None:
        self._credits: Credits | None = credits

    def release(self) -> None:
        if self._credits is not None:
            self._credits.give()
            self._credits = None


@dataclass
class Delivery(Generic[B]):
    """One message of a batch and its parsed body. The handler sets ``error`` to settle it as
    failed (nak or dead letter), and takes the message's credit with :meth:`hold_credit` when its
    work goes on after the batch (then the message is acked whatever happens to the batch)."""

    msg: Msg
    body: B
    credits: Credits
    error: BaseException | None = None
    held: Credit | None = None

    def hold_credit(self) -> Credit:
        """This message's credit, now owned by the caller (release it when the work ends)."""
        if self.held is None:
            self.held = Credit(self.credits)
        return self.held


Handler = Callable[[list[Delivery[B]]], Awaitable[None]]
Parser = Callable[[Msg], B]


def model_parser(model: type[Model]) -> Parser[Model]:
    """Parse a message body as ``model`` (a failure is dead-lettered as ``invalid_message``)."""

    def parse(msg: Msg) -> Model:
        return model.model_validate_json(msg.data)

    return parse


class BatchConsumer(Generic[B]):
    """Fetches from one durable consumer and hands each group of arrivals to ``handler``.

    ``parse`` turns a message into its body; a parse error settles that message at once
    (:class:`~attune_shared.errors.PermanentError` or a validation error: dead letter). ``prefetch``
    messages may wait client-side beyond the free credits (unclaimed: nothing is done with them
    until a credit frees, and they count against ``ack_wait``). With ``room`` (capacity that the
    handler's work will need, not held by the messages themselves: an executor's run slots for its
    events), messages are taken only while ``room`` has more free than the messages in hand, but
    one batch at least every ``ROOM_WAIT_MAX`` seconds, so that a full ``room`` slows the
    consumer down without stopping it.
    """

    def __init__(
        self,
        nc: NatsClient,
        spec: BusSpec,
        durable: str,
        parse: Parser[B],
        handler: Handler[B],
        settler: Settler,
        credits: Credits,
        gate: DatabaseGate,
        *,
        batch_size: int = 64,
        wait: float = 1.0,
        prefetch: int = 0,
        room: Credits | None = None,
    ) -> None:
        consumer = spec.consumer(durable)
        self.durable = durable
        self.stream = consumer.stream
        self.nc = nc
        self.fetcher = PullFetcher(nc, consumer.stream, durable, expires=wait)
        self.parse = parse
        self.handler = handler
        self.settler = settler
        self.credits = credits
        self.gate = gate
        self.batch_size = batch_size
        #: messages fetched ahead of free credits, so a freed credit is refilled without a round trip
        self.prefetch = prefetch
        #: downstream capacity this consumer's messages will need (see :meth:`_limit`)
        self.room = room
        self._last_dispatch = time.monotonic()
        self.wake = self.fetcher.changed
        credits.listen(self.wake)
        if room is not None:
            room.listen(self.wake)
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.fetcher.start()
        jsm = self.nc.jsm()
        HEALTH.watch(f"consumer {self.durable}", lambda: jsm.consumer_info(self.stream, self.durable))

    def stop(self) -> None:
        """Stop fetching; :meth:`run` finishes the batches in flight and returns."""
        HEALTH.mark_ready(False)
        HEALTH.forget(f"consumer {self.durable}")
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        """Fetch and handle until :meth:`stop`; then finish the batches in flight and hand back the rest."""
        fetcher = self.fetcher
        try:
            while not self._stopping:
                free = self._limit()
                if free > 0 and fetcher.arrived:
                    self._dispatch(fetcher.take(min(free, self.batch_size)))
                    continue
                room = free + self.prefetch - len(fetcher.arrived)
                if room > 0 and fetcher.idle and self.gate.up.is_set():
                    await fetcher.request(min(room, self.batch_size))
                try:
                    await asyncio.wait_for(
                        self.wake.wait(), fetcher.expires if self.room is None else ROOM_WAIT_MAX
                    )
                except TimeoutError:
                    pass
                self.wake.clear()
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            # the open request may still deliver: wait for its end, then hand back what came
            deadline = time.monotonic() + fetcher.expires + 0.5
            while not fetcher.idle and (remaining := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), remaining)
                except TimeoutError:
                    pass
                self.wake.clear()
            for msg in fetcher.drain():
                try:
                    await msg.nak()
                except NatsError:
                    pass
            await fetcher.stop()

    def _limit(self) -> int:
        """How many more messages to take now (see the class docstring on ``room``)."""
        free = self.credits.free
        if self.room is None:
            return free
        if time.monotonic() - self._last_dispatch >= ROOM_WAIT_MAX and not self.credits.used:
            return min(free, self.batch_size)
        return min(free, self.room.free - self.credits.used)

    def _dispatch(self, msgs: list[Msg]) -> None:
        self._last_dispatch = time.monotonic()
        self.credits.take(len(msgs))
        task = asyncio.create_task(self._handle(msgs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msgs: list[Msg]) -> None:
        deliveries: list[Delivery[B]] = []
        for msg in msgs:
            try:
                deliveries.append(Delivery(msg, self.parse(msg), self.credits))
            except Exception as exc:
                await self._settle(msg, exc)
                self.credits.give()
        if not deliveries:
            return
        while True:
            try:
                await self.handler(deliveries)
            except Exception as exc:
                if is_unavailable(exc) and await self._hold(deliveries, exc):
                    continue  # the handlers are idempotent: the batch is simply handled again
                self._failed(deliveries, exc)
            break
        for d in deliveries:
            await self._settle(d.msg, d.error)
            if d.held is None:
                self.credits.give()

    async def _hold(self, deliveries: list[Delivery[B]], exc: BaseException) -> bool:
        """Keep the messages in progress until the database answers again; False when stopping first."""
        self.gate.report_down(exc)
        last = time.monotonic()
        while not self.gate.up.is_set():
            if self._stopping:
                return False
            try:
                await asyncio.wait_for(self.gate.up.wait(), 0.5)
            except TimeoutError:
                pass
            if time.monotonic() - last >= KEEPALIVE:
                last = time.monotonic()
                await asyncio.gather(*(d.msg.in_progress() for d in deliveries), return_exceptions=True)
        return True

    def _failed(self, deliveries: list[Delivery[B]], exc: Exception) -> None:
        log.warning(
            "batch.failed",
            extra={"durable": self.durable, "size": len(deliveries), "error": f"{type(exc).__name__}: {exc}"},
            exc_info=not isinstance(exc, OSError | NatsError),
        )
        for d in deliveries:
            if d.held is None:  # a run already started is acked: its work goes on
                d.error = d.error or exc

    async def _settle(self, msg: Msg, exc: BaseException | None) -> None:
        try:
            await self.settler.settle(msg, exc)
        except (NatsError, OSError) as err:
            log.warning("settle.failed", extra={"durable": self.durable, "error": str(err)})
