"""Batch consumers of the durable work consumers, with backpressure.

A consumer fetches at most as many messages as it has free :class:`Credits`, hands each fetch to
its handler as one batch (so the handler can do its database work in a few statements), and
settles every message through the bus :class:`~attune_shared.bus.Settler` (ack, delayed nak or
dead letter) once the handler is done. Several batches may be in flight at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import pydantic
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from attune_executor.database import DatabaseGate, is_unavailable
from attune_executor.fetch import PullFetcher
from attune_shared.bus import BusSpec, Settler
from attune_shared.bus.messages import BusMessage

log = logging.getLogger("attune.executor.consumer")

M = TypeVar("M", bound=BusMessage)

#: While the database is away, held messages are marked in progress this often (ack_wait is 30 s+).
KEEPALIVE = 10.0


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


@dataclass
class Delivery(Generic[M]):
    """One message of a batch. The handler sets ``error`` to settle it as failed (nak or dead
    letter), and ``keep_credit`` when the work goes on after the batch (a run)."""

    msg: Msg
    body: M
    error: BaseException | None = None
    keep_credit: bool = False


Handler = Callable[[list[Delivery[M]]], Awaitable[None]]


class BatchConsumer(Generic[M]):
    def __init__(
        self,
        nc: NatsClient,
        spec: BusSpec,
        durable: str,
        model: type[M],
        handler: Handler[M],
        settler: Settler,
        credits: Credits,
        gate: DatabaseGate,
        *,
        batch_size: int = 64,
        wait: float = 1.0,
    ) -> None:
        consumer = spec.consumer(durable)
        self.durable = durable
        self.fetcher = PullFetcher(nc, consumer.stream, durable, expires=wait)
        self.model = model
        self.handler = handler
        self.settler = settler
        self.credits = credits
        self.gate = gate
        self.batch_size = batch_size
        self.wake = self.fetcher.changed
        credits.listen(self.wake)
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.fetcher.start()

    def stop(self) -> None:
        """Stop fetching; :meth:`run` finishes the batches in flight and returns."""
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        """Fetch and handle until :meth:`stop`; then finish the batches in flight."""
        fetcher = self.fetcher
        try:
            while not self._stopping:
                free = self.credits.free
                if free > 0 and fetcher.arrived:
                    self._dispatch(fetcher.take(min(free, self.batch_size)))
                    continue
                room = free - len(fetcher.arrived)
                if room > 0 and fetcher.idle and self.gate.up.is_set():
                    await fetcher.request(min(room, self.batch_size))
                try:
                    await asyncio.wait_for(self.wake.wait(), fetcher.expires)
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

    def _dispatch(self, msgs: list[Msg]) -> None:
        self.credits.take(len(msgs))
        task = asyncio.create_task(self._handle(msgs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msgs: list[Msg]) -> None:
        deliveries: list[Delivery[M]] = []
        for msg in msgs:
            try:
                deliveries.append(Delivery(msg, self.model.model_validate_json(msg.data)))
            except pydantic.ValidationError as exc:
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
            if not d.keep_credit:
                self.credits.give()

    async def _hold(self, deliveries: list[Delivery[M]], exc: BaseException) -> bool:
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
                for d in deliveries:
                    try:
                        await d.msg.in_progress()
                    except NatsError:
                        pass
        return True

    def _failed(self, deliveries: list[Delivery[M]], exc: Exception) -> None:
        log.warning(
            "batch.failed",
            extra={"durable": self.durable, "size": len(deliveries), "error": f"{type(exc).__name__}: {exc}"},
            exc_info=not isinstance(exc, OSError | NatsError),
        )
        for d in deliveries:
            if not d.keep_credit:  # a run already started is acked: its work goes on
                d.error = d.error or exc

    async def _settle(self, msg: Msg, exc: BaseException | None) -> None:
        try:
            await self.settler.settle(msg, exc)
        except (NatsError, OSError) as err:
            log.warning("settle.failed", extra={"durable": self.durable, "error": str(err)})
