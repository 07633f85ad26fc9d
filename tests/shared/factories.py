"""Builders for catalog and pipeline rows in tests (one place to change when the schema grows)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from attune_shared.models import Action, Event, Execution, Pack, Rule, Trigger
from attune_shared.repos import (
    ActionRepository,
    EventRepository,
    ExecutionRepository,
    NewEvent,
    NewExecution,
    PackRepository,
    RuleRepository,
    StatusChange,
    TriggerRepository,
)
from attune_shared.statuses import ExecutionStatus
from attune_shared.types import Queryable


def now() -> datetime:
    return datetime.now(UTC)


async def make_pack(db: Queryable, ref: str = "demo") -> Pack:
    row, _ = await PackRepository(db).upsert({"ref": ref, "label": ref, "version": "1.0.0"})
    return row


async def make_trigger(db: Queryable, ref: str = "demo.alert", **values: Any) -> Trigger:
    pack = await make_pack(db, ref.split(".")[0])
    row, _ = await TriggerRepository(db).upsert({"ref": ref, "pack": pack.id, "pack_ref": pack.ref, **values})
    return row


async def make_action(
    db: Queryable, ref: str = "demo.run", runner_type: str = "builtin", **values: Any
) -> Action:
    pack = await make_pack(db, ref.split(".")[0])
    row, _ = await ActionRepository(db).upsert(
        {"ref": ref, "pack": pack.id, "pack_ref": pack.ref, "runner_type": runner_type, **values}
    )
    return row


async def make_rule(
    db: Queryable,
    ref: str = "demo.on_alert",
    trigger: Trigger | None = None,
    action: Action | None = None,
    **values: Any,
) -> Rule:
    trigger = trigger or await make_trigger(db)
    action = action or await make_action(db)
    row, _ = await RuleRepository(db).upsert(
        {
            "ref": ref,
            "pack": trigger.pack,
            "pack_ref": trigger.pack_ref,
            "trigger": trigger.id,
            "trigger_ref": trigger.ref,
            "action": action.id,
            "action_ref": action.ref,
            **values,
        }
    )
    return row


async def make_event(
    db: Queryable, trigger_ref: str = "demo.alert", payload: dict[str, Any] | None = None
) -> Event:
    inserted = await EventRepository(db).insert_many(
        [NewEvent(created=now(), trigger_ref=trigger_ref, payload=payload or {}, dedup_id=uuid.uuid4().hex)]
    )
    event = await EventRepository(db).get(inserted[0].id, inserted[0].created)
    assert event is not None
    return event


async def make_execution(db: Queryable, action_ref: str = "demo.run", **values: Any) -> Execution:
    return await ExecutionRepository(db).create(NewExecution(action_ref=action_ref, **values))


async def set_status(
    repo: ExecutionRepository,
    id: int,
    created: datetime,
    old: ExecutionStatus | Collection[ExecutionStatus],
    new: ExecutionStatus,
    **changes: Any,
) -> bool:
    """One compare-and-set of an execution's status (what the executor does in batches); True if it won."""
    olds = (old,) if isinstance(old, str) else tuple(old)
    [previous] = await repo.update_status_many([StatusChange(id, created, olds, new, changes)])
    return previous is not None
