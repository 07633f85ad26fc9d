"""Inquiries: created ``pending`` with their execution, answered, timed out or cancelled once."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from attune_shared.models import Inquiry
from attune_shared.repos.base import MAX_PAGE, Filters, Repository
from attune_shared.statuses import InquiryStatus


class InquiryRepository(Repository[Inquiry]):
    table = "inquiry"

    async def create(self, values: dict[str, Any]) -> Inquiry:
        """The inquiry of an execution; creating it again returns the first (a redelivered start)."""
        data = self._writable({k: v for k, v in values.items() if k != "id"})  # the id is the execution's
        data = {"id": values["id"], **data}
        names = list(data)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO inquiry ({', '.join(names)}) VALUES ({placeholders}) "
            f"ON CONFLICT (id) DO NOTHING RETURNING {self.select_list}",
            *data.values(),
        )
        if record is not None:
            return self._row(record)
        existing = await self.get(data["id"])
        assert existing is not None
        return existing

    async def get(self, id: int, *, lock: bool = False) -> Inquiry | None:
        sql = f"SELECT {self.select_list} FROM inquiry WHERE id = $1" + (" FOR UPDATE" if lock else "")
        record = await self.db.fetchrow(sql, id)
        return None if record is None else self._row(record)

    async def list(
        self,
        *,
        status: InquiryStatus | None = None,
        parent: int | None = None,
        before_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> builtins.list[Inquiry]:
        f = Filters().add_if("status = ?", status).add_if("parent = ?", parent).add_if("id < ?", before_id)
        return await self._select(f, limit=limit)

    async def close(
        self,
        id: int,
        status: InquiryStatus,
        *,
        response: dict[str, Any] | None = None,
        responded_by: str | None = None,
        responded_at: datetime | None = None,
    ) -> bool:
        """``pending`` -> ``status`` (with the response when answered); False if it was not pending."""
        result = await self.db.execute(
            "UPDATE inquiry SET status = $2, response = $3, responded_by = $4, responded_at = $5 "
            "WHERE id = $1 AND status = 'pending'",
            id,
            status,
            response,
            responded_by,
            responded_at,
        )
        return result != "UPDATE 0"

    async def due(self, *, limit: int = MAX_PAGE) -> builtins.list[Inquiry]:
        """Pending inquiries past their ``timeout_at``, the oldest first."""
        f = Filters().add("status = ?", InquiryStatus.PENDING)
        f.clauses.append("timeout_at <= now()")
        return await self._select(f, order="timeout_at", limit=limit)
