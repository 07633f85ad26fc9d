"""What StackStorm's completion triggers cost an execution when no rule listens to them.

Every ended execution goes through the executor's ``Finisher``, which asks whether an enabled rule
uses ``core.st2.generic.actiontrigger`` (or ``notifytrigger``) before building a payload: a lookup
in the executor's catalog cache. This times that call as the executor makes it, on an execution of
the run before, with the cache filled (as it is after the first end).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import asyncpg

from attune_executor.catalog_cache import CatalogCache
from attune_shared.completion import CompletionTriggers
from attune_shared.repos import ActionRepository, ExecutionRepository
from attune_shared.secrets import SecretBox


class _NoBus:
    """Fails the measurement if anything would be published (a rule listens after all)."""

    async def trigger(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a completion trigger was published: a rule listens to it")


async def unlistened_us(pool: asyncpg.Pool, calls: int = 20_000) -> float:
    """Mean microseconds of one ``CompletionTriggers.ended`` with no rule listening."""
    [execution] = await ExecutionRepository(pool).list(status="completed", limit=1)
    action = await ActionRepository(pool).get_by_ref(execution.action_ref)
    cache = CatalogCache(pool, SecretBox(secrets.token_hex(16)), ttl=3600)  # no secret is read here
    triggers = CompletionTriggers(_NoBus(), cache)  # type: ignore[arg-type]
    await triggers.ended(execution, action, execution.status, execution.result)  # fills the cache
    started = time.perf_counter()
    for _ in range(calls):
        await triggers.ended(execution, action, execution.status, execution.result)
    return (time.perf_counter() - started) / calls * 1e6
