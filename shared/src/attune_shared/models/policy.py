from __future__ import annotations

from datetime import datetime
from typing import Literal

from attune_shared.models.base import Row

ConcurrencyMethod = Literal["enqueue", "cancel"]


class Policy(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    description: str
    action: int | None
    action_ref: str
    enabled: bool
    concurrency_limit: int | None
    concurrency_method: ConcurrencyMethod
    concurrency_group_by: list[str]
    rate_limit_max: int | None
    rate_limit_window_seconds: int | None
    is_adhoc: bool
    created: datetime
    updated: datetime
