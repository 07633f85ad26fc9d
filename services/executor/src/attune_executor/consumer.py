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

from attune_executor.fetch import PullFetcher
from attune_shared.bus import BusSpec, Settler
from attune_shared.bus.messages import BusMessage

log = logging.getLogger("attune.executor.consumer")

M = TypeVar("M", bound=BusMessage)


class Credits:
    """Free capacity: a consumer takes one per fetched message; whoever finishes the work gives it back."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._changed = asyncio.Event()

    @property
    def free(self) -> int:
        return self.total - self.used

    def take(self, n: int) -> None:
        self.used += n

    def give(self, n: int = 1) -> None:
        self.used -= n
        self._changed.set()

    async def wait(self, stopping: asyncio.Event) -> int:
        """Free credits (at least one), or 0 once ``stopping`` is set."""
        while self.free <= 0 and not stopping.is_set():
            self._changed.clear()
            stop = asyncio.ensure_future(stopping.wait())
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({stop, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                changed.cancel()
        return 0 if stopping.is_set() else self.free


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
        *,
        batch_size: int = 64,
        wait: float = 1.0,
    ) -> None:
        consumer = spec.consumer(durable)
        self.durable = durable
        self.fetcher = PullFetcher(nc, consumer.stream, durable)
        self.model = model
        self.handler = handler
        self.settler = settler
        self.credits = credits
        self.batch_size = batch_size
        self.wait = wait
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.fetcher.start()

    async def run(self, stopping: asyncio.Event) -> None:
        """Fetch and handle until ``stopping``; then finish the batches in flight."""
        last_request = 0.0
        try:
            while True:
                free = await self.credits.wait(stopping)
                if not free:
                    break
                fetch = asyncio.ensure_future(self.fetcher.fetch(min(free, self.batch_size), self.wait))
                stop = asyncio.ensure_future(stopping.wait())
                last_request = time.monotonic()
                await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not fetch.done():
                    fetch.cancel()
                    break
                try:
                    msgs = fetch.result()
                except (NatsError, OSError) as exc:
                    log.warning("fetch.failed", extra={"durable": self.durable, "error": str(exc)})
                    await asyncio.sleep(0.5)
                    continue
                if msgs:
                    self._dispatch(msgs)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            # a lingering pull request may still deliver one message: take it and hand it back
            await asyncio.sleep(max(0.0, last_request + self.wait - time.monotonic()))
            for msg in self.fetcher.drain():
                try:
                    await msg.nak()
                except NatsError:
                    pass
            await self.fetcher.stop()

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
        try:
            await self.handler(deliveries)
        except Exception as exc:
            log.warning(
                "batch.failed",
                extra={
                    "durable": self.durable,
                    "size": len(deliveries),
                    "error": f"{type(exc).__name__}: {exc}",
                },
                exc_info=not isinstance(exc, OSError | NatsError),
            )
            for d in deliveries:
                if not d.keep_credit:  # a run already started is acked: its work goes on
                    d.error = d.error or exc
        for d in deliveries:
            await self._settle(d.msg, d.error)
            if not d.keep_credit:
                self.credits.give()

    async def _settle(self, msg: Msg, exc: BaseException | None) -> None:
        try:
            await self.settler.settle(msg, exc)
        except (NatsError, OSError) as err:
            log.warning("settle.failed", extra={"durable": self.durable, "error": str(err)})
