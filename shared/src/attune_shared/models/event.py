from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row


class Event(Row):
    """An immutable trigger instance."""

    id: int
    created: datetime
    trigger: int | None
    trigger_ref: str
    config: dict[str, Any]
    payload: dict[str, Any]
    source: int | None
    source_ref: str | None
    rule: int | None
    rule_ref: str | None
    trace_tag: str | None
    dedup_id: str
