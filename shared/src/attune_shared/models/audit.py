from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row

Outcome = Literal["success", "denied", "error"]
AuditSource = Literal["api", "cli"]


class AuditRecord(Row):
    """One entry of the audit log (append-only; see migrations/0014_audit.sql)."""

    id: int
    created: datetime
    actor: str
    identity_id: int | None
    api_key_id: int | None
    action: str
    target: str | None
    outcome: Outcome
    status: int | None
    source: AuditSource
    remote_addr: str | None
    request_id: str | None
    details: dict[str, Any]
