"""Group commit for asyncio: what is submitted while a write is in flight goes together in the next.

Under low load every write holds one item, so nothing waits for a timer; under load the items of
many callers share one statement (one round trip, one commit) instead of one statement each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("attune.batching")


class GroupWriter(Generic[T, R]):
    """Writes submitted items in batches, one batch at a time.

    ``write`` gets a batch and returns one result per item, in order; each caller gets its item's
    result, or the exception ``write`` raised. At most ``max_batch`` items go in one write, and
    items with the same ``key`` never share one (the later waits for the next write, so that it
    sees what the earlier did). ``after``, when given, runs once the batch's callers have their
    results and before the next write (e.g. announcements that must stay in order).
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        key: Callable[[T], Hashable],
        max_batch: int,
        after: Callable[[list[T], Sequence[R]], Awaitable[None]] | None = None,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._key = key
        self._after = after
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is submitted meanwhile; its result."""
        # its future awaited alone: a gather of one costs a future and a callback more per item
        return await self._enqueue([item])[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Write ``items`` (in as few writes as they fit); their results, in order. Raises the
        first exception a write of theirs raised."""
        outcomes = await asyncio.gather(*self._enqueue(items), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return outcomes  # type: ignore[return-value]  # no exception among them

    def _enqueue(self, items: Sequence[T]) -> list[asyncio.Future[R]]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._pending.append((item, future))
            futures.append(future)
        if futures and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._run())
        return futures

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let what is submitted in this turn of the loop join
        while self._pending:
            batch: list[tuple[T, asyncio.Future[R]]] = []
            rest: list[tuple[T, asyncio.Future[R]]] = []
            keys: set[Hashable] = set()
            for entry in self._pending:
                key = self._key(entry[0])
                if len(batch) < self._max_batch and key not in keys:
                    keys.add(key)
                    batch.append(entry)
                else:
                    rest.append(entry)
            self._pending = rest
            items = [item for item, _ in batch]
            try:
                results = await self._write(items)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            if self._after is not None:
                try:
                    await self._after(items, results)
                except Exception:
                    log.exception("group_writer.after_failed")  # the batch is written: go on
