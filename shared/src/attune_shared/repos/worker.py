"""The worker registry: one row per executor replica."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attune_shared.models import Worker
from attune_shared.repos.base import MAX_PAGE, CatalogRepository, Filters
from attune_shared.statuses import WorkerStatus


class WorkerRepository(CatalogRepository[Worker]):
    table = "worker"
    key_column = "name"

    async def register(
        self,
        *,
        name: str,
        host: str,
        pid: int,
        concurrency: int,
        worker_type: str = "executor",
        capabilities: dict[str, Any] | None = None,
    ) -> Worker:
        """Create or revive the worker row named ``name`` as ``active``."""
        record = await self.db.fetchrow(
            f"""INSERT INTO worker (name, worker_type, host, pid, status, capabilities, concurrency, last_heartbeat)
                VALUES ($1, $2, $3, $4, 'active', $5, $6, now())
                ON CONFLICT (name) DO UPDATE SET worker_type = EXCLUDED.worker_type, host = EXCLUDED.host,
                    pid = EXCLUDED.pid, status = 'active', capabilities = EXCLUDED.capabilities,
                    concurrency = EXCLUDED.concurrency, last_heartbeat = now()
                RETURNING {self.select_list}""",
            name,
            worker_type,
            host,
            pid,
            capabilities or {},
            concurrency,
        )
        return self._row(record)

    async def heartbeat(self, id: int) -> bool:
        """Refresh ``last_heartbeat``; returns False when the row is gone or no longer active."""
        status = await self.db.execute(
            "UPDATE worker SET last_heartbeat = now() WHERE id = $1 AND status IN ('active', 'busy')", id
        )
        return status != "UPDATE 0"

    async def set_status(
        self, id: int, status: WorkerStatus, *, expected: WorkerStatus | None = None
    ) -> bool:
        f = Filters().add("id = ?", id).add_if("status = ?", expected)
        result = await self.db.execute(f"UPDATE worker SET status = {f.param(status)}{f.where}", *f.args)
        return result != "UPDATE 0"

    async def stale(self, older_than: timedelta) -> list[Worker]:
        """Active or busy workers whose last heartbeat is older than ``older_than``."""
        f = Filters().add("status = ANY(?::text[])", ["active", "busy"])
        f.add("last_heartbeat < now() - ?::interval", older_than)
        return await self._select(f, order="id")

    async def list_workers(
        self, *, status: WorkerStatus | None = None, limit: int = MAX_PAGE, before_id: int | None = None
    ) -> list[Worker]:
        f = Filters().add_if("status = ?", status).add_if("id < ?", before_id)
        return await self._select(f, limit=limit)
