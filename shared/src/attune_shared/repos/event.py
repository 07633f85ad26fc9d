"""Events: inserted in batches, never updated."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from attune_shared.models import Event
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
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


class StoredEvent(NamedTuple):
    id: int
    created: datetime
    trigger_ref: str
    dedup_id: str
    #: False when the row existed already (a redelivered or repeated message)
    new: bool


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

    async def insert_many(self, events: Sequence[NewEvent]) -> builtins.list[StoredEvent]:
        """Insert a batch in one round trip; one result per input, in input order.

        An input whose ``(dedup_id, created)`` exists already is not inserted again: its result is
        the existing row with ``new=False``, so a redelivered message never makes a second event
        and the caller can still publish what a lost publish did not.
        """
        if not events:
            return []
        columns = [[getattr(e, c) for e in events] for c in _INSERT_COLUMNS]
        stored = {
            (dedup_id, created): StoredEvent(event_id, created, trigger_ref, dedup_id, True)
            for event_id, created, trigger_ref, dedup_id in await self.db.fetch(_INSERT_MANY, *columns)
        }
        missing = [e for e in events if (e.dedup_id, e.created) not in stored]
        if missing:
            existing = await self.db.fetch(
                "SELECT id, created, trigger_ref, dedup_id FROM event WHERE (dedup_id, created) IN "
                "(SELECT k.dedup_id, k.created FROM unnest($1::text[], $2::timestamptz[]) AS k(dedup_id, created))",
                [e.dedup_id for e in missing],
                [e.created for e in missing],
            )
            stored.update(
                {
                    (r["dedup_id"], r["created"]): StoredEvent(
                        r["id"], r["created"], r["trigger_ref"], r["dedup_id"], False
                    )
                    for r in existing
                }
            )
        return [stored[(e.dedup_id, e.created)] for e in events]

    async def list(
        self,
        *,
        trigger_ref: str | None = None,
        rule_ref: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[Event]:
        """Newest first; with ``after_id``, the events above it oldest first (a stream's replay)."""
        f = Filters()
        f.ref_pattern("trigger_ref", trigger_ref)
        f.add_if("rule_ref = ?", rule_ref)
        f.add_if("created >= ?", since).add_if("created < ?", until).add_if("id < ?", before_id)
        f.add_if("id > ?", after_id)
        return await self._select(f, order="id DESC" if after_id is None else "id", limit=limit)
