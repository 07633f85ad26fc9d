"""Cached reads of the catalog: rules by trigger (dropped on every ``rule.changed``), actions,
packs and policies (re-read after ``executor.cache_ttl``). Misses are loaded in one query per kind."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Generic, TypeVar

import asyncpg

from attune_shared.models import Action, Pack, Policy, Rule
from attune_shared.repos import ActionRepository, PackRepository, PolicyRepository, RuleRepository

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values by key, each kept ``ttl`` seconds. :meth:`clear` also discards loads that started
    before it (a generation counter), so a rule change is never overwritten by an older read."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[K, tuple[float, V]] = {}
        self._generation = 0

    def clear(self) -> None:
        self._values.clear()
        self._generation += 1

    async def get_many(
        self, keys: Collection[K], load: Callable[[list[K]], Awaitable[dict[K, V]]], default: V
    ) -> dict[K, V]:
        now = time.monotonic()
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in set(keys):
            entry = self._values.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
            else:
                missing.append(key)
        if missing:
            generation = self._generation
            loaded = await load(missing)
            expires = time.monotonic() + self.ttl
            for key in missing:
                value = loaded.get(key, default)
                found[key] = value
                if generation == self._generation:
                    self._values[key] = (expires, value)
        return found


class Catalog:
    def __init__(self, pool: asyncpg.Pool, ttl: float) -> None:
        self.pool = pool
        self._rules_by_trigger: TtlCache[str, list[Rule]] = TtlCache(ttl)
        self._rules_by_ref: TtlCache[str, Rule | None] = TtlCache(ttl)
        self._actions: TtlCache[str, Action | None] = TtlCache(ttl)
        self._packs: TtlCache[str, Pack | None] = TtlCache(ttl)
        self._policies: TtlCache[str, list[Policy]] = TtlCache(ttl)

    def rules_changed(self) -> None:
        self._rules_by_trigger.clear()
        self._rules_by_ref.clear()

    async def rules_for_triggers(self, trigger_refs: Collection[str]) -> dict[str, list[Rule]]:
        """Enabled rules of each trigger, oldest first."""

        async def load(refs: list[str]) -> dict[str, list[Rule]]:
            grouped: dict[str, list[Rule]] = {ref: [] for ref in refs}
            for rule in await RuleRepository(self.pool).enabled_for_triggers(refs):
                grouped[rule.trigger_ref].append(rule)
            return grouped

        return await self._rules_by_trigger.get_many(trigger_refs, load, [])

    async def rules(self, refs: Collection[str]) -> dict[str, Rule | None]:
        async def load(keys: list[str]) -> dict[str, Rule | None]:
            return dict(await RuleRepository(self.pool).get_by_refs(keys))

        return await self._rules_by_ref.get_many(refs, load, None)

    async def actions(self, refs: Collection[str]) -> dict[str, Action | None]:
        async def load(keys: list[str]) -> dict[str, Action | None]:
            return dict(await ActionRepository(self.pool).get_by_refs(keys))

        return await self._actions.get_many(refs, load, None)

    async def packs(self, refs: Collection[str]) -> dict[str, Pack | None]:
        async def load(keys: list[str]) -> dict[str, Pack | None]:
            return dict(await PackRepository(self.pool).get_by_refs(keys))

        return await self._packs.get_many(refs, load, None)

    async def policies(self, action_refs: Collection[str]) -> dict[str, list[Policy]]:
        """Enabled policies of each action."""

        async def load(refs: list[str]) -> dict[str, list[Policy]]:
            grouped: dict[str, list[Policy]] = {ref: [] for ref in refs}
            for policy in await PolicyRepository(self.pool).enabled_for_actions(refs):
                grouped[policy.action_ref].append(policy)
            return grouped

        return await self._policies.get_many(action_refs, load, [])
