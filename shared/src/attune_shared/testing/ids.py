"""Names unique to a test run and to a test."""

from __future__ import annotations

import uuid

#: Identifies this pytest run in database names (several runs may share one server).
RUN_ID = uuid.uuid4().hex[:8]


def unique(prefix: str) -> str:
    """``prefix`` with this run's id and a random suffix."""
    return f"{prefix}_{RUN_ID}_{uuid.uuid4().hex[:10]}"
