from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attune_shared.models.base import Row

Role = Literal["admin", "operator", "viewer"]
#: What a key may do whatever its role: `read` keys are refused every mutating call.
ApiKeyScope = Literal["read", "write"]


class Identity(Row):
    id: int
    login: str
    display_name: str
    attributes: dict[str, Any]
    frozen: bool
    created: datetime
    updated: datetime


class ApiKey(Row):
    id: int
    identity: int
    name: str
    prefix: str
    key_hash: str
    role: Role
    scope: ApiKeyScope
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created: datetime
