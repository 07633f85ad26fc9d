"""Repositories of the catalog tables (packs and their components)."""

from __future__ import annotations

from typing import ClassVar

from attune_shared.models import Action, Pack, Policy, Rule, Sensor, Trigger
from attune_shared.repos.base import CatalogRepository, Filters, RowT


class PackRepository(CatalogRepository[Pack]):
    table = "pack"

    #: First key of the two-key advisory locks taken while a pack is registered (the second is the ref's hash).
    REGISTRATION_LOCK: ClassVar[int] = 0x7061636B  # "pack"

    async def lock_registration(self, ref: str) -> None:
        """Serialize registrations of one pack until the current transaction ends."""
        await self.db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", self.REGISTRATION_LOCK, ref)


class PackComponentRepository(CatalogRepository[RowT]):
    """A table of components that belong to a pack (``pack_ref``)."""

    async def owned_by_pack(self, pack_ref: str) -> list[RowT]:
        """The pack's rows that registration manages: all but those created through the API."""
        f = Filters().add("pack_ref = ?", pack_ref).add("is_adhoc = ?", False)
        return await self._select(f, order="ref")


class TriggerRepository(PackComponentRepository[Trigger]):
    table = "trigger"

    async def count_webhook_delivery(self, trigger: Trigger) -> int:
        """Count one webhook delivery in the trigger's current rate window (one row per trigger,
        shared by every API replica); the deliveries counted in that window, this one included."""
        count: int = await self.db.fetchval(
            """
            INSERT INTO webhook_rate AS r (trigger, window_start, deliveries)
            VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1)
            ON CONFLICT (trigger) DO UPDATE SET
                deliveries = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.deliveries + 1 ELSE 1 END,
                window_start = EXCLUDED.window_start
            RETURNING deliveries
            """,
            trigger.id,
            trigger.webhook_rate_window,
        )
        return count


class SensorRepository(PackComponentRepository[Sensor]):
    table = "sensor"


class ActionRepository(PackComponentRepository[Action]):
    table = "action"


class RuleRepository(PackComponentRepository[Rule]):
    table = "rule"

    async def enabled_for_trigger(self, trigger_ref: str) -> list[Rule]:
        """Enabled rules listening to a trigger, oldest first (the order they are evaluated in)."""
        f = Filters().add("trigger_ref = ?", trigger_ref).add("enabled = ?", True)
        return await self._select(f, order="id")

    async def link(self, kind: str, ref: str, id: int) -> None:
        """Point the rules (and, for an action, the policies) naming trigger or action ``ref`` at its
        row ``id``: rules of packs registered before the one holding it were written without it."""
        column = "trigger" if kind == "trigger" else "action"
        tables = ("rule",) if kind == "trigger" else ("rule", "policy")
        for table in tables:
            await self.db.execute(
                f"UPDATE {table} SET {column} = $2 WHERE {column}_ref = $1 AND {column} IS DISTINCT FROM $2",
                ref,
                id,
            )

    async def webhook_rules(self, trigger_ref: str, url: str) -> list[Rule]:
        """Enabled rules of a webhook trigger whose ``trigger_params.url`` is ``url`` (leading and
        trailing ``/`` ignored, as StackStorm does)."""
        f = (
            Filters()
            .add("trigger_ref = ?", trigger_ref)
            .add("enabled = ?", True)
            .add("btrim(trigger_params->>'url', '/') = ?", url.strip("/"))
        )
        return await self._select(f, order="id")

    async def enabled_for_triggers(self, trigger_refs: list[str]) -> list[Rule]:
        f = Filters().add("trigger_ref = ANY(?::text[])", trigger_refs).add("enabled = ?", True)
        return await self._select(f, order="id")


class PolicyRepository(PackComponentRepository[Policy]):
    table = "policy"

    async def enabled_for_action(self, action_ref: str) -> list[Policy]:
        f = Filters().add("action_ref = ?", action_ref).add("enabled = ?", True)
        return await self._select(f, order="id")

    async def enabled_for_actions(self, action_refs: list[str]) -> list[Policy]:
        """Enabled policies of several actions in one query, oldest first."""
        f = Filters().add("action_ref = ANY(?::text[])", action_refs).add("enabled = ?", True)
        return await self._select(f, order="id")
