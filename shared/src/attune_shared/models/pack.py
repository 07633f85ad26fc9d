from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row


class Pack(Row):
    id: int
    ref: str
    label: str
    description: str
    version: str
    config_schema: dict[str, Any]
    config: dict[str, Any]
    path: str | None
    metadata: dict[str, Any]
    source: str | None
    created: datetime
    updated: datetime
