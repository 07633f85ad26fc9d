"""The audit log: who did what to which target, when, from where, and how it ended.

The API records every mutating call (and every decrypted secret read) in one place, its request
middleware, from the action each route declares; commands of the ``attune`` CLI that work on the
database directly record themselves with :func:`record_cli`. Records are only ever appended
(:class:`~attune_shared.repos.AuditRepository` has no other writes and the table refuses them).
"""

from __future__ import annotations

import getpass
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from attune_shared.models.audit import Outcome
from attune_shared.repos.audit import AuditRepository, NewAuditRecord
from attune_shared.types import Queryable

#: Statuses that mean the caller was refused rather than that the call failed.
DENIED_STATUSES = frozenset({401, 403, 429})


def outcome_of(status: int) -> Outcome:
    """``success`` below 400; ``denied`` for 401, 403 and 429; ``error`` otherwise."""
    if status < 400:
        return "success"
    return "denied" if status in DENIED_STATUSES else "error"


def without_credentials(value: str) -> str:
    """A URL as recorded: its credentials (``https://user:token@host/…``) removed; other text as is."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def cli_actor() -> str:
    """Who runs a CLI command on the database: ``cli:<OS user>`` (the uid when it has no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


async def record_cli(
    db: Queryable,
    action: str,
    target: str | None,
    *,
    ok: bool = True,
    details: dict[str, Any] | None = None,
) -> None:
    """Append the record of a CLI command run on the database (``ok=False``: it failed, exit 1)."""
    await AuditRepository(db).append(
        NewAuditRecord(
            actor=cli_actor(),
            action=action,
            target=target,
            outcome="success" if ok else "error",
            status=0 if ok else 1,
            source="cli",
            details=details or {},
        )
    )
