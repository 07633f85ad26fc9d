from __future__ import annotations

from datetime import datetime

from attune_shared.models.base import Row


class Key(Row):
    """A stored secret; ``value`` is ciphertext when ``encrypted`` (see :mod:`attune_shared.secrets`)."""

    id: int
    ref: str
    description: str
    value: str
    encrypted: bool
    created: datetime
    updated: datetime
