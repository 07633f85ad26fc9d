from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from attune_shared.models.base import Row
from attune_shared.models.rule import Condition
from attune_shared.statuses import EnforcementStatus


class Enforcement(Row):
    id: int
    created: datetime
    rule: int | None
    rule_ref: str
    trigger_ref: str
    event: int | None
    config: dict[str, Any]
    status: EnforcementStatus
    condition: Condition
    criteria: dict[str, Any]
    failure_reason: str | None
    trace_tag: str | None
    #: ciphertext of the secret parameters (``config`` shows them as ``********``); never serialized
    secrets: str | None = Field(default=None, exclude=True, repr=False)
    resolved_at: datetime | None
