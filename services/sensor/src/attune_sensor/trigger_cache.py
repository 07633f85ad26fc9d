"""Trigger and rule rows the sensor needs per message, cached briefly.

Entries expire after ``sensor.trigger_cache_ttl`` seconds (found or not found alike): a trigger
that is registered, changed or disabled takes effect within that time on every replica, with no
invalidation protocol to get wrong. Whether an enabled rule uses a trigger
(:meth:`TriggerCache.heard`) is also dropped on every ``rule.changed``, as the executor drops its
rules. A fetched batch loads its missing refs in one query, and concurrent lookups of a ref share
it. Compiled payload validators are kept per ``(trigger id, updated)`` and survive refreshes of an
unchanged row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from attune_shared.cache import TtlCache
from attune_shared.errors import DefinitionError
from attune_shared.json_schema import compiled
from attune_shared.repos import RuleRepository, TriggerRepository


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


class TriggerCache:
    """Cached trigger and rule-id lookups backed by the pool."""

    def __init__(self, pool: asyncpg.Pool, ttl: float, *, timeout: float = 15.0) -> None:
        self.pool = pool
        self._triggers: TtlCache[str, TriggerInfo | None] = TtlCache(
            self._load_triggers, ttl, default=None, timeout=timeout
        )
        self._rule_ids: TtlCache[str, int | None] = TtlCache(
            self._load_rule_ids, ttl, default=None, timeout=timeout
        )
        self._heard: TtlCache[str, bool] = TtlCache(self._load_heard, ttl, default=False, timeout=timeout)
        self._validators: dict[int, tuple[datetime, Validator | None, str | None]] = {}

    def rules_changed(self) -> None:
        """A rule was added, changed or removed somewhere: which triggers are heard is read again."""
        self._heard.clear()

    async def triggers(self, refs: Collection[str]) -> dict[str, TriggerInfo | None]:
        return await self._triggers.get_many(refs)

    async def rule_ids(self, refs: Collection[str]) -> dict[str, int | None]:
        return await self._rule_ids.get_many(refs)

    async def heard(self, refs: Collection[str]) -> dict[str, bool]:
        """Whether an enabled rule uses each trigger: only then may one of its events match."""
        return await self._heard.get_many(refs)

    async def _load_triggers(self, refs: list[str]) -> dict[str, TriggerInfo | None]:
        rows = await TriggerRepository(self.pool).get_by_refs(refs)
        found: dict[str, TriggerInfo | None] = {}
        for ref, row in rows.items():
            cached = self._validators.get(row.id)
            if cached is None or cached[0] != row.updated:
                validator, error = compile_schema(row.payload_schema)
                cached = self._validators[row.id] = (row.updated, validator, error)
            found[ref] = TriggerInfo(row.id, row.ref, row.enabled, cached[1], cached[2])
        return found

    async def _load_heard(self, refs: list[str]) -> dict[str, bool]:
        return {rule.trigger_ref: True for rule in await RuleRepository(self.pool).enabled_for_triggers(refs)}

    async def _load_rule_ids(self, refs: list[str]) -> dict[str, int | None]:
        return {ref: row.id for ref, row in (await RuleRepository(self.pool).get_by_refs(refs)).items()}


def compile_schema(schema: dict[str, Any]) -> tuple[Validator | None, str | None]:
    """A validator for a payload schema (``None`` for an empty one), or why it cannot be used."""
    if not schema:
        return None, None
    try:
        return compiled(schema), None
    except DefinitionError as exc:
        return None, f"the trigger's payload_schema is invalid: {exc}"[:500]
