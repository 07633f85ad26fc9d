from __future__ import annotations

from datetime import datetime
from typing import Literal

from attune_shared.models.base import Row

AdmissionState = Literal["queued", "active"]


class PolicyAdmission(Row):
    """An execution waiting for (``queued``) or holding (``active``) admission by a policy."""

    id: int
    policy: int
    group_key: str
    execution: int
    execution_created: datetime
    action_ref: str
    state: AdmissionState
    enqueued_at: datetime
    admitted_at: datetime | None
