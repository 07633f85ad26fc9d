"""Base class of the table models: one pydantic model per table, one field per column."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    """A table row. Field names are column names; repositories select exactly these columns."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)
