"""Field-level history of executions and workers (written by triggers; read-only here)."""

from __future__ import annotations

from attune_shared.models import HistoryEntry
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository


class _HistoryRepository(TimeSeriesRepository[HistoryEntry]):
    async def for_entity(
        self, entity_id: int, *, before_id: int | None = None, limit: int = MAX_PAGE
    ) -> list[HistoryEntry]:
        """Changes of one entity, newest first."""
        f = Filters().add("entity_id = ?", entity_id).add_if("id < ?", before_id)
        return await self._select(f, order="created DESC, id DESC", limit=limit)


class ExecutionHistoryRepository(_HistoryRepository):
    table = "execution_history"


class WorkerHistoryRepository(_HistoryRepository):
    table = "worker_history"
