from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row

RunnerType = Literal["builtin", "shell", "python", "http"]
OutputFormat = Literal["json", "yaml", "text"]


class Action(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    runner_type: RunnerType
    entry_point: str
    parameters_schema: dict[str, Any]
    output_format: OutputFormat
    timeout_seconds: int | None
    max_retries: int
    enabled: bool
    is_adhoc: bool
    created: datetime
    updated: datetime
