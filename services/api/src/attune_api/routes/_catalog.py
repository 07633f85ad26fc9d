"""What the catalog routes share: lookups that 404, creates that 409, schema checks that 422."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import asyncpg

from attune_api.problems import ProblemError, invalid, not_found
from attune_shared.bus import Bus, RuleChanged
from attune_shared.errors import RetryableError
from attune_shared.models import Rule
from attune_shared.models.base import Row
from attune_shared.parameters import schema_errors
from attune_shared.repos import CatalogRepository, PackRepository
from attune_shared.types import Queryable

log = logging.getLogger("attune.api")

RowT = TypeVar("RowT", bound=Row)


async def get_or_404(repo: CatalogRepository[RowT], ref: str, kind: str) -> RowT:
    row = await repo.get_by_ref(ref)
    if row is None:
        raise not_found(f"{kind} {ref}")
    return row


async def insert(repo: CatalogRepository[RowT], values: Mapping[str, Any], kind: str) -> RowT:
    try:
        return await repo.insert(values)
    except asyncpg.UniqueViolationError:
        raise ProblemError(409, f"{kind} {values['ref']} already exists", slug="already-exists") from None


async def update(repo: CatalogRepository[RowT], ref: str, values: Mapping[str, Any], kind: str) -> RowT:
    row = await repo.update(ref, values)
    if row is None:
        raise not_found(f"{kind} {ref}")
    return row


async def delete(repo: CatalogRepository[RowT], ref: str, kind: str) -> None:
    if not await repo.delete_by_ref(ref):
        raise not_found(f"{kind} {ref}")


async def owner(db: Queryable, ref: str) -> dict[str, Any]:
    """``pack`` and ``pack_ref`` of a component ref (``demo.x`` -> pack ``demo``, its id if registered)."""
    pack_ref = ref.split(".", 1)[0]
    pack = await PackRepository(db).get_by_ref(pack_ref)
    return {"pack": None if pack is None else pack.id, "pack_ref": pack_ref}


def check_schema(field: str, schema: Any) -> None:
    """422 when ``schema`` is not a valid JSON Schema."""
    errors = schema_errors(schema, field=field)
    if errors:
        raise ProblemError(422, f"{errors[0][0]}: {errors[0][1]}", errors=errors)


def require_exists(row: object | None, field: str, kind: str, ref: str) -> None:
    if row is None:
        raise invalid(field, f"{kind} {ref} does not exist")


async def announce_rule(bus: Bus, rule: Rule, op: str) -> None:
    """Publish ``rule.changed`` after the commit; a failed publish is logged, not raised (the change is
    committed, and services reconcile rules on start)."""
    change = RuleChanged(
        rule_ref=rule.ref,
        trigger_ref=rule.trigger_ref,
        enabled=rule.enabled and op != "deleted",
        op=op,
    )
    try:
        await bus.rule_changed(change)
    except RetryableError as exc:
        log.warning(
            "api.rule_change_not_published", extra={"rule_ref": rule.ref, "op": op, "error": str(exc)}
        )
