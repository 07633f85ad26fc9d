from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attune_shared.models.base import Row


class KeyScope(StrEnum):
    """Where a datastore key lives: shared by everyone, or one user's own."""

    SYSTEM = "system"
    USER = "user"


class Key(Row):
    """A datastore key. ``value`` is ciphertext when ``encrypted`` (a secret, see
    :mod:`attune_shared.secrets`), and JSON text when ``is_json``; ``owner`` is the user of a
    ``user``-scoped key. Past ``expires_at`` the key no longer exists for readers."""

    id: int
    name: str
    scope: KeyScope
    owner: str
    description: str
    value: str
    encrypted: bool
    is_json: bool
    expires_at: datetime | None
    created: datetime
    updated: datetime
