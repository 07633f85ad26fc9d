"""Repositories of the catalog tables (packs and their components)."""

from __future__ import annotations

from attune_shared.models import Action, Pack, Policy, Rule, Sensor, Trigger
from attune_shared.repos.base import CatalogRepository, Filters


class PackRepository(CatalogRepository[Pack]):
    table = "pack"


class TriggerRepository(CatalogRepository[Trigger]):
    table = "trigger"


class SensorRepository(CatalogRepository[Sensor]):
    table = "sensor"


class ActionRepository(CatalogRepository[Action]):
    table = "action"


class RuleRepository(CatalogRepository[Rule]):
    table = "rule"

    async def enabled_for_trigger(self, trigger_ref: str) -> list[Rule]:
        """Enabled rules listening to a trigger, oldest first (the order they are evaluated in)."""
        f = Filters().add("trigger_ref = ?", trigger_ref).add("enabled = ?", True)
        return await self._select(f, order="id")

    async def enabled_for_triggers(self, trigger_refs: list[str]) -> list[Rule]:
        f = Filters().add("trigger_ref = ANY(?::text[])", trigger_refs).add("enabled = ?", True)
        return await self._select(f, order="id")


class PolicyRepository(CatalogRepository[Policy]):
    table = "policy"

    async def enabled_for_action(self, action_ref: str) -> list[Policy]:
        f = Filters().add("action_ref = ?", action_ref).add("enabled = ?", True)
        return await self._select(f, order="id")
