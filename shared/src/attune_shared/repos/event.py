"""Events: inserted in batches, never updated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from attune_shared.models import Event
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to insert. ``created`` is the trigger message's stream time (see migration 0002)."""

    created: datetime
    trigger_ref: str
    payload: dict[str, Any]
    dedup_id: str
    trigger: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    source: int | None = None
    source_ref: str | None = None
    rule: int | None = None
    rule_ref: str | None = None
    trace_tag: str | None = None


class InsertedEvent(NamedTuple):
    id: int
    created: datetime
    trigger_ref: str
    dedup_id: str


_INSERT_COLUMNS = (
    "created",
    "trigger",
    "trigger_ref",
    "config",
    "payload",
    "source",
    "source_ref",
    "rule",
    "rule_ref",
    "trace_tag",
    "dedup_id",
)
_ARRAY_TYPES = (
    "timestamptz[]",
    "bigint[]",
    "text[]",
    "jsonb[]",
    "jsonb[]",
    "bigint[]",
    "text[]",
    "bigint[]",
    "text[]",
    "text[]",
    "text[]",
)
_INSERT_MANY = (
    f"INSERT INTO event ({', '.join(_INSERT_COLUMNS)}) "
    f"SELECT {', '.join('u.' + c for c in _INSERT_COLUMNS)} FROM unnest("
    + ", ".join(f"${i}::{t}" for i, t in enumerate(_ARRAY_TYPES, start=1))
    + f") AS u({', '.join(_INSERT_COLUMNS)}) "
    "ON CONFLICT (dedup_id, created) DO NOTHING "
    "RETURNING id, created, trigger_ref, dedup_id"
)


class EventRepository(TimeSeriesRepository[Event]):
    table = "event"

    async def insert_many(self, events: Sequence[NewEvent]) -> list[InsertedEvent]:
        """Insert a batch in one round trip. Rows whose ``(dedup_id, created)`` exists are skipped
        and absent from the result, so a redelivered message never makes a second event."""
        if not events:
            return []
        columns = [[getattr(e, c) for e in events] for c in _INSERT_COLUMNS]
        records = await self.db.fetch(_INSERT_MANY, *columns)
        return [InsertedEvent(r["id"], r["created"], r["trigger_ref"], r["dedup_id"]) for r in records]

    async def list(
        self,
        *,
        trigger_ref: str | None = None,
        rule_ref: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[Event]:
        f = Filters()
        f.ref_pattern("trigger_ref", trigger_ref)
        f.add_if("rule_ref = ?", rule_ref)
        f.add_if("created >= ?", since).add_if("created < ?", until).add_if("id < ?", before_id)
        return await self._select(f, limit=limit)
