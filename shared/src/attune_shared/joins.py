"""Application-level joins replacing the foreign keys hypertables cannot have.

Each function batch-loads by ids (one query per hop, never one per row) and maps a dangling
reference to ``None`` instead of raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attune_shared.models import Enforcement, Event, Execution, Rule, Trigger
from attune_shared.repos import (
    EnforcementRepository,
    EventRepository,
    ExecutionRepository,
    RuleRepository,
    TriggerRepository,
)
from attune_shared.types import Queryable


@dataclass(frozen=True, slots=True)
class ExecutionLinks:
    """What an execution came from: its enforcement, and that enforcement's rule and trigger."""

    enforcement: Enforcement | None
    rule: Rule | None
    trigger: Trigger | None


async def events_of(db: Queryable, enforcements: Sequence[Enforcement]) -> dict[int, Event | None]:
    """Enforcement id -> its event, or ``None`` when the event is gone."""
    events = await EventRepository(db).get_many({e.event for e in enforcements if e.event is not None})
    return {e.id: events.get(e.event) if e.event is not None else None for e in enforcements}


async def links_of(db: Queryable, executions: Sequence[Execution]) -> dict[int, ExecutionLinks]:
    """Execution id -> :class:`ExecutionLinks`, in three queries whatever the number of executions."""
    enforcements = await EnforcementRepository(db).get_many(
        {x.enforcement for x in executions if x.enforcement is not None}
    )
    rules = await RuleRepository(db).get_many({e.rule for e in enforcements.values() if e.rule is not None})
    trigger_refs = {e.trigger_ref for e in enforcements.values()}
    triggers = await TriggerRepository(db).get_by_refs(trigger_refs)
    links: dict[int, ExecutionLinks] = {}
    for x in executions:
        enforcement = enforcements.get(x.enforcement) if x.enforcement is not None else None
        rule = (
            rules.get(enforcement.rule) if enforcement is not None and enforcement.rule is not None else None
        )
        trigger = triggers.get(enforcement.trigger_ref) if enforcement is not None else None
        links[x.id] = ExecutionLinks(enforcement=enforcement, rule=rule, trigger=trigger)
    return links


async def parents_of(db: Queryable, executions: Sequence[Execution]) -> dict[int, Execution | None]:
    """Execution id -> its parent execution, or ``None`` (top level, or the parent is gone)."""
    parents = await ExecutionRepository(db).get_many({x.parent for x in executions if x.parent is not None})
    return {x.id: parents.get(x.parent) if x.parent is not None else None for x in executions}


async def children_of(db: Queryable, executions: Sequence[Execution]) -> dict[int, list[Execution]]:
    """Execution id -> its child executions (possibly empty), oldest first."""
    children: dict[int, list[Execution]] = {x.id: [] for x in executions}
    for child in await ExecutionRepository(db).children([x.id for x in executions]):
        if child.parent is not None and child.parent in children:
            children[child.parent].append(child)
    return children
