from __future__ import annotations

from datetime import datetime
from typing import Literal

from attune_shared.models.base import Row

SensorProcessStatus = Literal["starting", "running", "backoff", "stopped", "failed"]


class SensorProcess(Row):
    """The process of one pack sensor, as the sensor replica running it last reported it."""

    sensor_ref: str
    status: SensorProcessStatus
    host: str
    pid: int | None
    restarts: int
    last_error: str | None
    last_error_at: datetime | None
    started_at: datetime | None
    updated: datetime
