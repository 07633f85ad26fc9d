"""Running workflows on a real stack (PostgreSQL, NATS, executor processes) and reading what they did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attune_shared.bus import Bus
from attune_shared.models import Execution
from attune_shared.parameters import validate_parameters
from attune_shared.repos import ActionRepository, ExecutionRepository
from attune_shared.statuses import ExecutionStatus
from attune_shared.types import Queryable

from ..executor.helpers import request, wait_for

PACK_DIR = Path(__file__).parent / "pack"


async def run(
    db: Queryable, bus: Bus, action_ref: str, *, timeout_seconds: int | None = None, **params: Any
) -> Execution:
    """Request a workflow as ``POST /executions`` does (parameters validated, defaults applied);
    returns the execution, not waiting."""
    action = await ActionRepository(db).get_by_ref(action_ref)
    assert action is not None, action_ref
    config = validate_parameters(params, action.parameters_schema)
    return await request(db, bus, action_ref, config, action=action.id, timeout_seconds=timeout_seconds)


async def finished(db: Queryable, x: Execution, timeout: float = 30.0) -> Execution:
    """The execution once terminal."""

    async def check() -> Execution | None:
        row = await ExecutionRepository(db).get(x.id, x.created)
        return row if row is not None and row.status.is_terminal else None

    return await wait_for(check, timeout, f"execution {x.id} ({x.action_ref}) to finish")


async def reaches(db: Queryable, x: Execution, status: ExecutionStatus, timeout: float = 20.0) -> Execution:
    async def check() -> Execution | None:
        row = await ExecutionRepository(db).get(x.id, x.created)
        return row if row is not None and row.status is status else None

    return await wait_for(check, timeout, f"execution {x.id} to be {status}")


async def child(
    db: Queryable, x: Execution, task: str, status: ExecutionStatus | None = None, timeout: float = 20.0
) -> Execution:
    """The (first) child of ``x`` running ``task``, once it exists (and has ``status``)."""

    async def check() -> Execution | None:
        for c in await ExecutionRepository(db).children([x.id]):
            if c.task_name == task and (status is None or c.status is status):
                return c
        return None

    return await wait_for(
        check, timeout, f"task {task} of execution {x.id}" + (f" to be {status}" if status else "")
    )


@dataclass
class Node:
    """An execution and its children, oldest first."""

    execution: Execution
    children: list[Node] = field(default_factory=list)

    def tasks(self) -> list[tuple[str | None, int | None, ExecutionStatus]]:
        """``(task, item, status)`` of the children, in the order they were created."""
        return [(c.execution.task_name, c.execution.task_item, c.execution.status) for c in self.children]

    def named(self, task: str) -> list[Node]:
        return [c for c in self.children if c.execution.task_name == task]


async def tree(db: Queryable, x: Execution) -> Node:
    children = await ExecutionRepository(db).children([x.id])
    return Node(x, [await tree(db, c) for c in children])


def max_overlap(executions: list[Execution]) -> int:
    """Most executions running at the same moment, from their rows (``started_at`` to the end,
    which is the last ``updated`` of a finished execution)."""
    edges = sorted(
        [(x.started_at, 1) for x in executions if x.started_at is not None]
        + [(x.updated, -1) for x in executions if x.started_at is not None],
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak
