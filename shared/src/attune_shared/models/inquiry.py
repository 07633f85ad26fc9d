from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row
from attune_shared.statuses import InquiryStatus


class Inquiry(Row):
    """A question an execution (``core.ask``) waits on; ``id`` is that execution's id."""

    id: int
    execution_created: datetime
    action_ref: str
    parent: int | None
    route: str
    response_schema: dict[str, Any]
    roles: list[str]
    users: list[str]
    ttl: int
    status: InquiryStatus
    response: dict[str, Any] | None
    responded_by: str | None
    responded_at: datetime | None
    timeout_at: datetime | None
    created: datetime
    updated: datetime
