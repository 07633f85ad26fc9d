from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row

#: The runner types of this project's own pack format (StackStorm's are in :mod:`attune_shared.runner_types`);
#: ``orquesta`` is a workflow in either format.
RunnerType = Literal["builtin", "shell", "python", "http", "orquesta"]
OutputFormat = Literal["json", "yaml", "text"]


class Action(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    runner_type: str
    entry_point: str
    parameters_schema: dict[str, Any]
    output_format: OutputFormat
    timeout_seconds: int | None
    max_retries: int
    enabled: bool
    is_adhoc: bool
    notify: dict[str, Any]
    output_schema: dict[str, Any]
    created: datetime
    updated: datetime
