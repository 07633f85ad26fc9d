"""Workers (executor replicas): list, get, history."""

from __future__ import annotations

from fastapi import APIRouter

from attune_api.deps import PoolDep, Viewer
from attune_api.problems import not_found
from attune_api.schemas import API_PREFIX, BeforeId, IdPath, Limit, Page, page
from attune_shared.models import HistoryEntry, Worker
from attune_shared.repos import WorkerHistoryRepository, WorkerRepository
from attune_shared.statuses import WorkerStatus

router = APIRouter(prefix=f"{API_PREFIX}/workers", tags=["workers"])


@router.get("", summary="List workers, newest first")
async def list_workers(
    _: Viewer,
    pool: PoolDep,
    status: WorkerStatus | None = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[Worker]:
    rows = await WorkerRepository(pool).list_workers(status=status, limit=limit, before_id=before_id)
    return Page[Worker](**page(rows, limit))


@router.get("/{id}", summary="Get a worker", responses={404: {"description": "no such worker"}})
async def get_worker(_: Viewer, pool: PoolDep, id: IdPath) -> Worker:
    worker = await WorkerRepository(pool).get(id)
    if worker is None:
        raise not_found(f"worker {id}")
    return worker


@router.get(
    "/{id}/history",
    summary="Field-level changes of a worker (status, host, …; never heartbeats), newest first",
    responses={404: {"description": "no such worker and no history"}},
)
async def worker_history(
    _: Viewer, pool: PoolDep, id: IdPath, limit: Limit = 100, before_id: BeforeId = None
) -> Page[HistoryEntry]:
    rows = await WorkerHistoryRepository(pool).for_entity(id, before_id=before_id, limit=limit)
    if not rows and before_id is None and await WorkerRepository(pool).get(id) is None:
        raise not_found(f"worker {id}")
    return Page[HistoryEntry](**page(rows, limit))
