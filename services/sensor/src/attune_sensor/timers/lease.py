"""Leases: one key in the NATS KV bucket ``<p>_leases`` per thing exactly one replica may do (fire
the timers, run a pack sensor).

The bucket's TTL (``sensor.timer_lease_ttl``) expires the key when its holder stops renewing it.
Taking the lease is ``create`` (succeeds only when the key is absent); renewing is ``update`` with
the last revision (compare-and-set), so a replica that lost the key can never write over a new
holder. A holder that cannot renew considers the lease gone a margin before the server would
expire it, so two replicas never both believe they hold it (timer message ids catch the rest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger("attune.sensor.lease")

#: The key of the timer lease in the leases bucket.
TIMER_LEASE_KEY = "sensor-timers"


def holder_identity() -> dict[str, object]:
    """What a replica writes into the lease: unique per process, readable by people."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex[:12]}


class Lease:
    """Acquire, renew and release one KV key; :meth:`held` says whether this replica may act."""

    def __init__(self, nc: NatsClient, bucket: str, ttl: float, key: str = TIMER_LEASE_KEY) -> None:
        self.nc = nc
        self.bucket = bucket
        self.ttl = ttl
        self.key = key
        self.value = json.dumps(holder_identity()).encode()
        #: renew this often while holding
        self.renew_every = ttl / 4
        #: try to take the lease this often while not holding it
        self.poll_every = min(1.0, ttl / 5)
        self._margin = min(1.0, ttl / 5)
        self._kv: KeyValue | None = None
        self._revision: int | None = None
        self._valid_until = 0.0
        #: called with the new state whenever this replica takes or drops the lease
        self.on_change: Callable[[bool], None] | None = None

    def held(self) -> bool:
        return self._revision is not None and time.monotonic() < self._valid_until

    async def run(self, stopping: asyncio.Event) -> None:
        """Keep trying to hold the lease until ``stopping`` is set, then release it."""
        try:
            while not stopping.is_set():
                await self.step()
                delay = self.renew_every if self.held() else self.poll_every
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            await self.release()

    async def step(self) -> None:
        """One attempt: renew when holding, take when free."""
        was_held = self.held()
        started = time.monotonic()
        try:
            kv = await self._bucket()
            if self._revision is None:
                await self._acquire(kv, started)
            else:
                await self._renew(kv, started)
        except (NatsError, TimeoutError, OSError) as exc:
            log.debug("lease.unreachable", extra={"error": f"{type(exc).__name__}: {exc}"})
        if was_held != self.held():
            self._announce()

    async def release(self) -> None:
        """Delete the key if this replica still holds it, so another takes over at once."""
        revision, self._revision = self._revision, None
        if revision is None:
            return
        try:
            kv = await self._bucket()
            await asyncio.wait_for(kv.delete(self.key, last=revision), 2.0)
            log.info("lease.released", extra={"key": self.key})
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning("lease.release_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        self._announce()

    async def _acquire(self, kv: KeyValue, started: float) -> None:
        try:
            self._revision = await kv.create(self.key, self.value)
        except KeyWrongLastSequenceError:
            # Someone holds it, or this replica does and lost track (a renewal whose reply was lost).
            try:
                entry = await kv.get(self.key)
            except KeyNotFoundError:
                return
            if entry.value != self.value:
                return
            self._revision = entry.revision
        self._valid_until = started + self.ttl - self._margin

    async def _renew(self, kv: KeyValue, started: float) -> None:
        try:
            self._revision = await kv.update(self.key, self.value, last=self._revision)
        except KeyWrongLastSequenceError:
            log.warning("lease.lost", extra={"key": self.key})
            self._revision = None
            return
        self._valid_until = started + self.ttl - self._margin

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.nc.jetstream().key_value(self.bucket)
        return self._kv

    def _announce(self) -> None:
        held = self.held()
        log.info("lease.acquired" if held else "lease.dropped", extra={"key": self.key})
        if self.on_change is not None:
            self.on_change(held)
