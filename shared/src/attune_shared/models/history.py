from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row


class HistoryEntry(Row):
    """A field-level change of an execution or a worker, written by a database trigger."""

    id: int
    created: datetime
    operation: Literal["INSERT", "UPDATE", "DELETE"]
    entity_id: int
    entity_ref: str | None
    changed_fields: list[str]
    old_values: dict[str, Any]
    new_values: dict[str, Any]
