from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row

Condition = Literal["all", "any"]


class Rule(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    trigger: int | None
    trigger_ref: str
    trigger_params: dict[str, Any]
    criteria: dict[str, Any]
    condition: Condition
    action: int | None
    action_ref: str
    action_params: dict[str, Any]
    enabled: bool
    is_adhoc: bool
    created: datetime
    updated: datetime
