"""Protocols shared by repositories and services."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Queryable(Protocol):
    """What repositories need: an asyncpg pool, connection or pooled-connection proxy."""

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...

    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None: ...

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Any: ...
