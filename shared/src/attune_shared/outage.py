"""PostgreSQL outages: told apart from bad queries, and waited out without spending deliveries.

A batch that fails because the database is away is held by its consumer (messages kept in
progress, so JetStream does not redeliver them) and handled again once a probe succeeds; an
outage of any length therefore brings no message nearer to ``max_deliver``.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from tenacity import AsyncRetrying, wait_fixed

from attune_shared.db import CONNECTION_ERRORS
from attune_shared.errors import DatabaseUnavailableError

log = logging.getLogger("attune.database")

#: Errors that mean the database cannot be reached or is going away (as opposed to a query it refuses).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    DatabaseUnavailableError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby during a failover
)

#: Seconds between probes while the database is away.
PROBE_EVERY = 0.5
#: A probe that takes longer than this failed.
PROBE_TIMEOUT = 5.0


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or is going away (as opposed to a query it refuses)."""
    return isinstance(exc, UNAVAILABLE_ERRORS)


def is_bad_data(exc: BaseException) -> bool:
    """A value the database refuses whatever happens (SQLSTATE class 22, data exception)."""
    return isinstance(exc, asyncpg.DataError)


class DatabaseGate:
    """Whether PostgreSQL answers; after a reported failure it probes until it does."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.up = asyncio.Event()
        self.up.set()
        self._probe: asyncio.Task[None] | None = None

    def report_down(self, exc: BaseException) -> None:
        """A query failed because the database is away: hold work until a probe succeeds."""
        if self.up.is_set():
            self.up.clear()
            log.warning("database.unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_up())

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)

    async def _probe_until_up(self) -> None:
        # Connections opened before the outage are dead; replace them all, not one failure at a time.
        await self.pool.expire_connections()
        async for attempt in AsyncRetrying(
            wait=wait_fixed(PROBE_EVERY),
            after=lambda state: log.debug(
                "database.probe_failed", extra={"error": repr(state.outcome and state.outcome.exception())}
            ),
        ):
            with attempt:
                async with asyncio.timeout(PROBE_TIMEOUT), self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
        self.up.set()
        log.info("database.available")
