"""Cached reads of the catalog: rules by trigger and by ref (dropped on every ``rule.changed``),
actions, packs (their configs opened) and policies (re-read after ``executor.cache_ttl``). Misses are loaded in one query
per kind."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from attune_shared.cache import TtlCache
from attune_shared.models import Action, Pack, Policy, Rule
from attune_shared.packs.config import opened
from attune_shared.repos import ActionRepository, PackRepository, PolicyRepository, RuleRepository
from attune_shared.secrets import SecretBox


class CatalogCache:
    def __init__(self, pool: asyncpg.Pool, box: SecretBox, ttl: float) -> None:
        self.pool = pool
        self.box = box
        self._rules_by_trigger: TtlCache[str, list[Rule]] = TtlCache(
            self._load_trigger_rules, ttl, default=[]
        )
        self._rules_by_ref: TtlCache[str, Rule | None] = TtlCache(
            RuleRepository(pool).get_by_refs, ttl, default=None
        )
        self._actions: TtlCache[str, Action | None] = TtlCache(
            ActionRepository(pool).get_by_refs, ttl, default=None
        )
        self._packs: TtlCache[str, Pack | None] = TtlCache(self._load_packs, ttl, default=None)
        self._policies: TtlCache[str, list[Policy]] = TtlCache(self._load_policies, ttl, default=[])

    def rules_changed(self) -> None:
        self._rules_by_trigger.clear()
        self._rules_by_ref.clear()

    async def rules_for_triggers(self, trigger_refs: Collection[str]) -> dict[str, list[Rule]]:
        """Enabled rules of each trigger, oldest first."""
        return await self._rules_by_trigger.get_many(trigger_refs)

    async def rules(self, refs: Collection[str]) -> dict[str, Rule | None]:
        return await self._rules_by_ref.get_many(refs)

    async def actions(self, refs: Collection[str]) -> dict[str, Action | None]:
        return await self._actions.get_many(refs)

    async def packs(self, refs: Collection[str]) -> dict[str, Pack | None]:
        return await self._packs.get_many(refs)

    async def policies(self, action_refs: Collection[str]) -> dict[str, list[Policy]]:
        """Enabled policies of each action."""
        return await self._policies.get_many(action_refs)

    async def _load_packs(self, refs: list[str]) -> dict[str, Pack | None]:
        """Packs with their config opened: what the executor hands to actions and templates."""
        packs = await PackRepository(self.pool).get_by_refs(refs)
        return {ref: opened(pack, self.box) for ref, pack in packs.items()}

    async def _load_trigger_rules(self, refs: list[str]) -> dict[str, list[Rule]]:
        grouped: dict[str, list[Rule]] = {ref: [] for ref in refs}
        for rule in await RuleRepository(self.pool).enabled_for_triggers(refs):
            grouped[rule.trigger_ref].append(rule)
        return grouped

    async def _load_policies(self, refs: list[str]) -> dict[str, list[Policy]]:
        grouped: dict[str, list[Policy]] = {ref: [] for ref in refs}
        for policy in await PolicyRepository(self.pool).enabled_for_actions(refs):
            grouped[policy.action_ref].append(policy)
        return grouped
