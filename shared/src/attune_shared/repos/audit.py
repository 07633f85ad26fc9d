"""The audit log: append and list, nothing else (the table refuses updates and deletes too)."""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from attune_shared.models.audit import AuditRecord, AuditSource, Outcome
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository


@dataclass(frozen=True, slots=True)
class NewAuditRecord:
    """An entry to append; the database stamps ``id`` and ``created``."""

    actor: str
    action: str
    outcome: Outcome
    source: AuditSource
    target: str | None = None
    status: int | None = None
    identity_id: int | None = None
    api_key_id: int | None = None
    remote_addr: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditRepository(TimeSeriesRepository[AuditRecord]):
    table = "audit_log"

    async def append(self, entry: NewAuditRecord) -> AuditRecord:
        values = asdict(entry)
        names = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO audit_log ({', '.join(names)}) VALUES ({placeholders}) RETURNING {self.select_list}",
            *values.values(),
        )
        return self._row(record)

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        outcome: Outcome | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> builtins.list[AuditRecord]:
        """Newest first; ``action`` may be a wildcard such as ``rule.*``."""
        f = Filters().add_if("actor = ?", actor).ref_pattern("action", action)
        f.add_if("target = ?", target).add_if("outcome = ?", outcome)
        f.add_if("created >= ?", since).add_if("created < ?", until).add_if("id < ?", before_id)
        return await self._select(f, limit=limit)
