"""A small cache of values loaded from the database, each kept for a time-to-live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: More entries than this and expired ones are dropped (refs from garbage subjects must not pile up).
MAX_ENTRIES = 10_000


class TtlCache(Generic[K, V]):
    """Values by key, each kept ``ttl`` seconds (found or not found alike).

    ``load(keys)`` reads the missing keys in one go; a key it does not return gets ``default``.
    Concurrent lookups of a key share one load, and a load taking longer than ``timeout`` fails with
    ``TimeoutError`` (and is not left for later callers to wait on). :meth:`clear` also discards
    loads that started before it, so a change is never overwritten by an older read.
    """

    def __init__(
        self,
        load: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        ttl: float,
        *,
        default: V,
        timeout: float | None = None,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.default = default
        self.timeout = timeout
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[Mapping[K, V]]] = {}
        self._generation = 0

    def clear(self) -> None:
        self._values.clear()
        self._loading.clear()
        self._generation += 1

    async def get(self, key: K) -> V:
        return (await self.get_many((key,)))[key]

    async def get_many(self, keys: Collection[K]) -> dict[K, V]:
        now = time.monotonic()
        found: dict[K, V] = {}
        waits: dict[K, asyncio.Future[Mapping[K, V]]] = {}
        missing: list[K] = []
        for key in set(keys):
            entry = self._values.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
            elif key in self._loading:
                waits[key] = self._loading[key]
            else:
                missing.append(key)
        if missing:
            loading = asyncio.ensure_future(self._fill(missing, self._generation))
            loading.add_done_callback(_retrieve)
            for key in missing:
                self._loading[key] = waits[key] = loading
        for pending in set(waits.values()):
            await asyncio.shield(pending)
        for key, done in waits.items():
            found[key] = done.result().get(key, self.default)
        return found

    async def _fill(self, keys: list[K], generation: int) -> Mapping[K, V]:
        this = asyncio.current_task()
        try:
            async with asyncio.timeout(self.timeout):
                loaded = await self._load(keys)
            if generation == self._generation:
                if len(self._values) + len(keys) > MAX_ENTRIES:
                    now = time.monotonic()
                    self._values = {k: e for k, e in self._values.items() if e[0] > now}
                    if len(self._values) + len(keys) > MAX_ENTRIES:
                        self._values.clear()
                expires = time.monotonic() + self.ttl
                for key in keys:
                    self._values[key] = (expires, loaded.get(key, self.default))
            return loaded
        finally:
            for key in keys:
                if self._loading.get(key) is this:
                    del self._loading[key]


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
