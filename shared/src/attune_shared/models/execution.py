from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from attune_shared.models.base import Row
from attune_shared.statuses import ExecutionStatus


class Execution(Row):
    id: int
    created: datetime
    updated: datetime
    action: int | None
    action_ref: str
    config: dict[str, Any]
    status: ExecutionStatus
    result: dict[str, Any] | None
    enforcement: int | None
    rule_ref: str | None
    trigger_ref: str | None
    parent: int | None
    original_execution: int | None
    executor: int | None
    worker: int | None
    started_at: datetime | None
    timeout_seconds: int | None
    retry_count: int
    max_retries: int
    retry_reason: str | None
    run_after: datetime | None
    trace_tag: str | None
    workflow_def: int | None
    task_name: str | None
    task_item: int | None
    #: ciphertext of the secret parameters (``config`` shows them as ``********``); never serialized
    secrets: str | None = Field(default=None, exclude=True, repr=False)
