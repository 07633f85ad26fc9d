from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row


class Trigger(Row):
    id: int
    ref: str
    pack: int | None
    pack_ref: str
    label: str
    description: str
    enabled: bool
    parameters_schema: dict[str, Any]
    payload_schema: dict[str, Any]
    webhook_enabled: bool
    webhook_secret: str | None
    #: deliveries accepted per ``webhook_rate_window`` seconds (None: no limit)
    webhook_rate_limit: int | None = None
    webhook_rate_window: int = 60
    #: addresses or CIDR networks webhook deliveries may come from (None: any)
    webhook_allowed_ips: list[str] | None = None
    is_adhoc: bool
    created: datetime
    updated: datetime
