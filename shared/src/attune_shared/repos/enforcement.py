"""Enforcements: one per (rule, event), resolved once."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from attune_shared.models import Enforcement
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository
from attune_shared.statuses import EnforcementStatus


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
class NewEnforcement:
    """An enforcement to create; ``event_created`` becomes its ``created`` (see migration 0002)."""

    rule: int
    rule_ref: str
    trigger_ref: str
    event: int
    event_created: datetime
    config: dict[str, Any] = field(default_factory=dict)
    condition: str = "all"
    criteria: dict[str, Any] = field(default_factory=dict)
    trace_tag: str | None = None
    secrets: str | None = None


_COLUMNS = (
    "rule",
    "rule_ref",
    "trigger_ref",
    "event",
    "created",
    "config",
    "condition",
    "criteria",
    "trace_tag",
    "secrets",
)
_TYPES = (
    "bigint[]",
    "text[]",
    "text[]",
    "bigint[]",
    "timestamptz[]",
    "jsonb[]",
    "text[]",
    "jsonb[]",
    "text[]",
    "text[]",
)


#: An enforcement to resolve: ``(id, created, status, failure_reason)``.
Resolution = tuple[int, datetime, EnforcementStatus, str | None]


def resolve_sql(first: int) -> str:
    """The statement resolving enforcements still ``created`` (``RETURNING`` their ids), with its
    four array parameters numbered from ``first`` (to embed it in a larger statement)."""
    a, b, c, d = range(first, first + 4)
    return (
        "UPDATE enforcement AS f SET status = r.status, resolved_at = now(), failure_reason = r.reason "
        f"FROM unnest(${a}::bigint[], ${b}::timestamptz[], ${c}::text[], ${d}::text[]) "
        "AS r(id, created, status, reason) "
        "WHERE f.id = r.id AND f.created = r.created AND f.status = 'created' RETURNING f.id"
    )


def resolve_args(items: Sequence[Resolution]) -> list[list[Any]]:
    """The four arrays of :func:`resolve_sql` for ``items``."""
    if any(status is EnforcementStatus.CREATED for _, _, status, _ in items):
        raise ValueError("an enforcement resolves to processed or disabled")
    return [[i[0] for i in items], [i[1] for i in items], [i[2] for i in items], [i[3] for i in items]]


class EnforcementRepository(TimeSeriesRepository[Enforcement]):
    table = "enforcement"

    async def create_many(self, rows: Sequence[NewEnforcement]) -> list[Enforcement]:
        """Create enforcements in one round trip and return one row per input, in input order.

        A (rule, event) pair that already has an enforcement returns the existing row, so a
        redelivered ``event.created`` is harmless.
        """
        if not rows:
            return []
        values = [
            [r.rule for r in rows],
            [r.rule_ref for r in rows],
            [r.trigger_ref for r in rows],
            [r.event for r in rows],
            [r.event_created for r in rows],
            [r.config for r in rows],
            [r.condition for r in rows],
            [r.criteria for r in rows],
            [r.trace_tag for r in rows],
            [r.secrets for r in rows],
        ]
        unnest = ", ".join(f"${i}::{t}" for i, t in enumerate(_TYPES, start=1))
        cols = ", ".join(_COLUMNS)
        records = await self.db.fetch(
            f"INSERT INTO enforcement ({cols}) SELECT {', '.join('u.' + c for c in _COLUMNS)} "
            f"FROM unnest({unnest}) AS u({cols}) "
            f"ON CONFLICT (rule, event, created) DO NOTHING RETURNING {self.select_list}",
            *values,
        )
        by_key = {(r["rule"], r["event"], r["created"]): self._row(r) for r in records}
        missing = [r for r in rows if (r.rule, r.event, r.event_created) not in by_key]
        if missing:
            # Rows that existed already; read after the insert so a concurrent winner is visible.
            existing = await self.db.fetch(
                f"SELECT {self.select_list} FROM enforcement WHERE (rule, event, created) IN "
                "(SELECT k.rule, k.event, k.created FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) "
                "AS k(rule, event, created))",
                [r.rule for r in missing],
                [r.event for r in missing],
                [r.event_created for r in missing],
            )
            by_key.update({(r["rule"], r["event"], r["created"]): self._row(r) for r in existing})
        return [by_key[(r.rule, r.event, r.event_created)] for r in rows]

    async def resolve_many(self, items: Sequence[Resolution]) -> builtins.list[bool]:
        """The one transition ``created -> processed | disabled`` (setting ``resolved_at``) of many
        ``(id, created, status, failure_reason)`` in one statement; one ``won`` per item, in order."""
        if not items:
            return []
        won = {r["id"] for r in await self.db.fetch(resolve_sql(1), *resolve_args(items))}
        return [i[0] in won for i in items]

    async def pending(self, older_than: timedelta, *, limit: int = MAX_PAGE) -> list[Enforcement]:
        """Enforcements still ``created`` after ``older_than`` (their message was probably lost)."""
        f = Filters().add("status = ?", EnforcementStatus.CREATED)
        f.add("created < now() - ?::interval", older_than)
        return await self._select(f, order="created", limit=limit)

    async def list(
        self,
        *,
        rule_ref: str | None = None,
        trigger_ref: str | None = None,
        event: int | None = None,
        status: EnforcementStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[Enforcement]:
        """Newest first; with ``after_id``, the enforcements above it oldest first (a stream's replay)."""
        f = Filters()
        f.ref_pattern("rule_ref", rule_ref)
        f.ref_pattern("trigger_ref", trigger_ref)
        f.add_if("event = ?", event).add_if("status = ?", status)
        f.add_if("created >= ?", since).add_if("created < ?", until).add_if("id < ?", before_id)
        f.add_if("id > ?", after_id)
        return await self._select(f, order="id DESC" if after_id is None else "id", limit=limit)

    async def for_events(self, event_ids: Sequence[int]) -> builtins.list[Enforcement]:
        if not event_ids:
            return []
        return await self._select(Filters().add("event = ANY(?::bigint[])", list(event_ids)), order="id")
