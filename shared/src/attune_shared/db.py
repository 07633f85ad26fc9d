"""PostgreSQL connections: the pool every service uses, with JSONB codecs and the ``attune`` search path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import pydantic_core
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from attune_shared.constants import DB_SCHEMA
from attune_shared.errors import DatabaseUnreachableError, ServerSetupError
from attune_shared.settings import DatabaseSettings

SEARCH_PATH = f"{DB_SCHEMA}, public"

T = TypeVar("T")

# Errors that mean "the server is not there (yet)", as opposed to a bad query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
)


def describe_url(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, without credentials, for error messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or '/'}"


def _encode_json(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection setup: JSON and JSONB map to Python objects."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, schema="pg_catalog", encoder=_encode_json, decoder=json.loads)


def _connect_kwargs(settings: DatabaseSettings, application_name: str) -> dict[str, Any]:
    return {
        "dsn": settings.url,
        "timeout": settings.connect_timeout,
        "server_settings": {"search_path": SEARCH_PATH, "application_name": application_name},
    }


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook: nothing to undo. Our sessions carry no state to reset (the search path is a
    startup parameter, advisory locks are released explicitly, nothing LISTENs on pooled
    connections), so asyncpg's default reset — one more query on every release — is skipped.
    asyncpg still rolls back a transaction left open."""


async def create_pool(
    settings: DatabaseSettings,
    *,
    application_name: str = "attune",
    min_size: int | None = None,
    max_size: int | None = None,
    wait: float | None = None,
) -> asyncpg.Pool:
    """Open a pool, retrying for ``wait`` seconds (default ``settings.startup_wait``).

    Raises :class:`DatabaseUnreachableError` naming the server when it stays unreachable, and
    :class:`ServerSetupError` at once when it refuses us (password, user, database name).
    """
    max_size = max_size or settings.pool_max
    min_size = min(settings.pool_min if min_size is None else min_size, max_size)

    async def open_pool() -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            **_connect_kwargs(settings, application_name),
            min_size=min_size,
            max_size=max_size,
            init=init_connection,
            reset=_keep_session,
        )
        return pool

    return await _until_reachable(settings, wait, open_pool)


async def connect(
    settings: DatabaseSettings, *, application_name: str = "attune", wait: float | None = None
) -> asyncpg.Connection:
    """One connection (for migrations, advisory locks, listeners), retried like :func:`create_pool`."""

    async def open_connection() -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(**_connect_kwargs(settings, application_name))
        await init_connection(conn)
        return conn

    return await _until_reachable(settings, wait, open_connection)


async def _until_reachable(
    settings: DatabaseSettings, wait: float | None, attempt: Callable[[], Awaitable[T]]
) -> T:
    """``attempt()`` until it does not fail with a connection error, for ``wait`` seconds (default
    ``settings.startup_wait``); then :class:`DatabaseUnreachableError` naming the server."""
    try:
        async for trying in AsyncRetrying(
            retry=retry_if_exception_type(CONNECTION_ERRORS),
            stop=stop_after_delay(settings.startup_wait if wait is None else wait),
            wait=wait_fixed(0.5),
            reraise=True,
        ):
            with trying:
                return await attempt()
    except CONNECTION_ERRORS as exc:
        raise _unavailable(settings.url, exc) from exc
    except asyncpg.PostgresError as exc:  # the server answered and refused: no use waiting
        raise refused(settings.url, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover (AsyncRetrying returns or raises)


def _unavailable(url: str, exc: BaseException) -> DatabaseUnreachableError:
    reason = str(exc) or type(exc).__name__
    return DatabaseUnreachableError(
        f"cannot connect to PostgreSQL at {describe_url(url)}: {reason}; check the host and port in "
        "ATTUNE__DATABASE__URL and that the server is running and accepts TCP connections"
    )


def refused(url: str, exc: asyncpg.PostgresError) -> ServerSetupError:
    """The one-line cause and fix of a connection PostgreSQL refused (never the password)."""
    parts = urlsplit(url)
    where = describe_url(url)
    user = parts.username or "the default user"
    database = parts.path.lstrip("/") or user
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return ServerSetupError(
            f"PostgreSQL at {where} refused the password of user {user!r}: "
            "put the right password in ATTUNE__DATABASE__URL"
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return ServerSetupError(
            f"database {database!r} does not exist on PostgreSQL at {describe_url(url).rsplit('/', 1)[0]}: "
            f"create it (CREATE DATABASE {database}) or fix the database name in ATTUNE__DATABASE__URL"
        )
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return ServerSetupError(
            f"PostgreSQL at {where} refused user {user!r} ({exc}): fix the user in "
            "ATTUNE__DATABASE__URL, or the server's roles and pg_hba.conf"
        )
    return ServerSetupError(f"PostgreSQL at {where} refused the connection: {type(exc).__name__}: {exc}")
