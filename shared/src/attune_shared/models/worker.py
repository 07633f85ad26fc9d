from __future__ import annotations

from datetime import datetime
from typing import Any

from attune_shared.models.base import Row
from attune_shared.statuses import WorkerStatus


class Worker(Row):
    id: int
    name: str
    worker_type: str
    host: str
    pid: int | None
    status: WorkerStatus
    capabilities: dict[str, Any]
    concurrency: int
    last_heartbeat: datetime
    created: datetime
    updated: datetime
