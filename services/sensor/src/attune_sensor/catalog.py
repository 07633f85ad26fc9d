"""Trigger and rule rows the sensor needs per message, cached briefly.

Entries expire after ``sensor.trigger_cache_ttl`` seconds (found or not found alike): a trigger
that is registered, changed or disabled takes effect within that time on every replica, with no
invalidation protocol to get wrong. Concurrent lookups of one ref share a single query, so a fetch
of 256 messages for one trigger costs at most one round trip. Compiled payload validators are kept
per ``(trigger id, updated)`` and survive refreshes of an unchanged row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from attune_shared.repos import RuleRepository, TriggerRepository

K = TypeVar("K")
V = TypeVar("V")

#: More entries than this and expired ones are dropped (refs from garbage subjects must not pile up).
MAX_ENTRIES = 10_000


class TtlCache(Generic[K, V]):
    """``await cache.get(key)``: the loaded value, reloaded after ``ttl`` seconds; one load per key at a time."""

    def __init__(self, load: Callable[[K], Awaitable[V]], ttl: float, *, timeout: float = 15.0) -> None:
        self._load = load
        self.ttl = ttl
        #: a load taking longer fails with TimeoutError (and is not left for later callers to wait on)
        self.timeout = timeout
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._fill(key))
            loading.add_done_callback(_retrieve)
        return await asyncio.shield(loading)

    def clear(self) -> None:
        self._entries.clear()

    async def _fill(self, key: K) -> V:
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._load(key)
            if len(self._entries) >= MAX_ENTRIES:
                now = time.monotonic()
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, value)
            return value
        finally:
            self._loading.pop(key, None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class TriggerInfo:
    id: int
    ref: str
    enabled: bool
    #: ``None`` when the trigger has no payload schema
    validator: Validator | None
    #: why the trigger's own payload schema is unusable, if it is
    schema_error: str | None = None

    def violation(self, payload: dict[str, Any]) -> str | None:
        """``None`` when ``payload`` satisfies the schema, else the most relevant problem."""
        if self.validator is None or self.validator.is_valid(payload):
            return None
        error = best_match(self.validator.iter_errors(payload))
        if error is None:
            return None
        where = error.json_path if error.path else "(root)"
        return f"{where}: {error.message}"[:500]


class Catalog:
    """Cached trigger and rule lookups backed by the pool."""

    def __init__(self, pool: asyncpg.Pool, ttl: float, *, timeout: float = 15.0) -> None:
        self.pool = pool
        self.triggers: TtlCache[str, TriggerInfo | None] = TtlCache(self._load_trigger, ttl, timeout=timeout)
        self.rule_ids: TtlCache[str, int | None] = TtlCache(self._load_rule_id, ttl, timeout=timeout)
        self._validators: dict[int, tuple[datetime, Validator | None, str | None]] = {}

    async def _load_trigger(self, ref: str) -> TriggerInfo | None:
        row = await TriggerRepository(self.pool).get_by_ref(ref)
        if row is None:
            return None
        cached = self._validators.get(row.id)
        if cached is None or cached[0] != row.updated:
            validator, error = compile_schema(row.payload_schema)
            cached = self._validators[row.id] = (row.updated, validator, error)
        return TriggerInfo(row.id, row.ref, row.enabled, cached[1], cached[2])

    async def _load_rule_id(self, ref: str) -> int | None:
        row = await RuleRepository(self.pool).get_by_ref(ref)
        return None if row is None else row.id


def compile_schema(schema: dict[str, Any]) -> tuple[Validator | None, str | None]:
    """A validator for a payload schema (``None`` for an empty one), or why it cannot be used."""
    if not schema:
        return None, None
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return None, f"the trigger's payload_schema is invalid: {exc.message}"[:500]
    return cls(schema), None
