from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row


class Sensor(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    runner_type: str
    entry_point: str
    trigger_types: list[str]
    enabled: bool
    config: dict[str, Any]
    is_adhoc: bool
    class_name: str
    poll_interval: int | None
    created: datetime
    updated: datetime
