from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from attune_shared.models.base import Row


class Pack(Row):
    id: int
    ref: str
    label: str
    description: str
    version: str
    config_schema: dict[str, Any]
    config: dict[str, Any]
    #: the config encrypted when it holds secret values (attune_shared.packs.config); never shown
    config_secrets: str | None = Field(default=None, exclude=True)
    path: str | None
    metadata: dict[str, Any]
    source: str | None
    created: datetime
    updated: datetime
