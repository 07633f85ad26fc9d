"""PostgreSQL trouble: telling an outage from a bad row, and waiting an outage out.

While the database is away, ingest handlers hold their messages (telling JetStream they are still
in progress) instead of nak'ing them over and over: an outage of any length costs no deliveries,
so no message reaches ``max_deliver`` because PostgreSQL restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from attune_shared.db import CONNECTION_ERRORS
from attune_shared.errors import DatabaseUnavailableError

log = logging.getLogger("attune.sensor.database")

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    DatabaseUnavailableError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, starting up, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby during a failover
)


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or is going away: retry once it answers again."""
    return isinstance(exc, _UNAVAILABLE)


def is_bad_data(exc: BaseException) -> bool:
    """A row the database refuses whatever happens (SQLSTATE class 22, data exception)."""
    return isinstance(exc, asyncpg.DataError)


class DatabaseGate:
    """Knows whether PostgreSQL answers; after a failure, probes it until it does."""

    def __init__(self, pool: asyncpg.Pool, *, probe_every: float = 0.5, probe_timeout: float = 5.0) -> None:
        self.pool = pool
        self.probe_every = probe_every
        self.probe_timeout = probe_timeout
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def report_down(self, exc: BaseException) -> None:
        """A query failed because the database is away: hold work until a probe succeeds."""
        if self._up.is_set():
            self._up.clear()
            log.warning("database.unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_up())

    async def wait_up(
        self, stopping: asyncio.Event, keepalive: Callable[[], Awaitable[object]], every: float
    ) -> None:
        """Return once the database answers; call ``keepalive`` every ``every`` seconds meanwhile.

        Raises :class:`DatabaseUnavailableError` (retryable) if ``stopping`` is set first.
        """
        while not self._up.is_set():
            if stopping.is_set():
                raise DatabaseUnavailableError("the database is unavailable and the sensor is stopping")
            up = asyncio.ensure_future(self._up.wait())
            stop = asyncio.ensure_future(stopping.wait())
            try:
                await asyncio.wait({up, stop}, timeout=every, return_when=asyncio.FIRST_COMPLETED)
            finally:
                up.cancel()
                stop.cancel()
            if not self._up.is_set() and not stopping.is_set():
                try:
                    await keepalive()
                except Exception as exc:
                    log.debug("keepalive.failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)

    async def _probe_until_up(self) -> None:
        # Connections opened before the outage are dead; replace them all, not one failure at a time.
        await self.pool.expire_connections()
        while True:
            try:
                async with asyncio.timeout(self.probe_timeout), self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            except Exception as exc:
                log.debug("database.probe_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(self.probe_every)
                continue
            self._up.set()
            log.info("database.available")
            return
