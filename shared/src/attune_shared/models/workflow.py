from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row
from attune_shared.statuses import ExecutionStatus


class WorkflowDefinition(Row):
    """A workflow action's definition, registered with its pack (``ref`` is the action's)."""

    id: int
    ref: str
    pack: int
    pack_ref: str
    action: int
    description: str
    entry_point: str
    source: str
    definition: dict[str, Any] | None
    errors: list[dict[str, Any]]
    digest: str
    created: datetime
    updated: datetime


class WorkflowExecution(Row):
    """The conductor's state of one workflow execution (``execution`` points at a time-series row)."""

    id: int
    execution: int
    execution_created: datetime
    workflow_def: int | None
    definition: dict[str, Any]
    digest: str
    status: ExecutionStatus
    state: dict[str, Any]
    secrets: str | None = None
    result: dict[str, Any] | None
    deadline: datetime | None
    closed_at: datetime | None
    created: datetime
    updated: datetime


class WorkflowTaskDispatch(Row):
    """The child execution started for one dispatch key of a workflow execution."""

    workflow_execution: int
    dispatch_key: str
    execution: int
    execution_created: datetime
    reported: ExecutionStatus | None
    created: datetime
