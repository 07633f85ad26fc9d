"""Analytics from the hourly rollups (continuous aggregates on TimescaleDB, views otherwise).

Window: ``since``/``until`` (ISO 8601), or the last ``hours`` (default 24, clamped to 1..8760)
before ``until`` (default now). Points are hourly: ``{bucket, ref, value}``; the status breakdowns
add ``status``. Recent hours are always included (real-time aggregates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from attune_api.deps import PoolDep, Viewer
from attune_api.problems import ProblemError
from attune_api.schemas import API_PREFIX, RefFilter, Since, Until, utc
from attune_shared.repos.analytics import AnalyticsRepository
from attune_shared.repos.analytics import Point as Row
from attune_shared.statuses import ExecutionStatus, WorkerStatus

router = APIRouter(prefix=f"{API_PREFIX}/analytics", tags=["analytics"])

Hours = Annotated[int, Query(description="window length when `since` is absent (clamped to 1..8760)")]


class Point(BaseModel):
    bucket: datetime
    ref: str
    value: int | float


class StatusPoint(Point):
    status: str


class Series(BaseModel):
    since: datetime
    until: datetime
    points: list[Point]


class StatusSeries(BaseModel):
    since: datetime
    until: datetime
    points: list[StatusPoint]


class FailureRate(BaseModel):
    """Failures (``failed`` + ``timeout``) over terminal transitions (``completed`` + ``failed`` +
    ``timeout``) in the window; ``points`` hold the hourly rate in percent (``ref`` is the filter or ``*``)."""

    since: datetime
    until: datetime
    total_terminal: int
    completed_count: int
    failed_count: int
    timeout_count: int
    failure_rate_pct: float
    points: list[Point]


async def window(since: Since = None, until: Until = None, hours: Hours = 24) -> tuple[datetime, datetime]:
    """The query's time window: ``since``..``until``, or the last ``hours`` before ``until`` (now)."""
    end = utc(until) or datetime.now(UTC)
    start = utc(since) or end - timedelta(hours=min(max(hours, 1), 8760))
    if start >= end:
        raise ProblemError(
            422, "since: must be before until", errors=[("query.since", "must be before until")]
        )
    return start, end


Window = Annotated[tuple[datetime, datetime], Depends(window)]


@dataclass(frozen=True)
class AnalyticsRequest:
    """One analytics request: the rollups to read, the window and the ref filter."""

    rollups: AnalyticsRepository
    since: datetime
    until: datetime
    ref: str | None

    def series(self, rows: list[Row]) -> Series:
        return Series(since=self.since, until=self.until, points=[_point(r) for r in rows])

    def status_series(self, rows: list[Row]) -> StatusSeries:
        points = [StatusPoint(**_point(r).model_dump(), status=r.status or "") for r in rows]
        return StatusSeries(since=self.since, until=self.until, points=points)


async def _query(_: Viewer, pool: PoolDep, span: Window, ref: RefFilter = None) -> AnalyticsRequest:
    return AnalyticsRequest(AnalyticsRepository(pool), span[0], span[1], ref)


AnalyticsQuery = Annotated[AnalyticsRequest, Depends(_query)]


def _point(row: Row) -> Point:
    return Point(bucket=row.bucket, ref=row.ref, value=row.value)


@router.get("/events/volume", summary="Events per hour and trigger")
async def event_volume(q: AnalyticsQuery) -> Series:
    return q.series(await q.rollups.event_volume(q.since, q.until, q.ref))


@router.get("/enforcements/volume", summary="Enforcements per hour and rule")
async def enforcement_volume(q: AnalyticsQuery) -> Series:
    return q.series(await q.rollups.enforcement_volume(q.since, q.until, q.ref))


@router.get(
    "/executions/volume",
    summary="Executions created per hour and action (optionally only those now in `status`)",
)
async def execution_volume(q: AnalyticsQuery, status: ExecutionStatus | None = None) -> Series:
    return q.series(await q.rollups.execution_volume(q.since, q.until, q.ref, status))


@router.get("/executions/status", summary="Status transitions per hour, action and new status")
async def execution_status(q: AnalyticsQuery, status: ExecutionStatus | None = None) -> StatusSeries:
    return q.status_series(await q.rollups.execution_status(q.since, q.until, q.ref, status))


@router.get("/executions/throughput", summary="Executions requested per hour and action")
async def execution_throughput(q: AnalyticsQuery) -> Series:
    return q.series(await q.rollups.execution_throughput(q.since, q.until, q.ref))


@router.get("/executions/failure-rate", summary="Share of terminal executions that failed or timed out")
async def failure_rate(q: AnalyticsQuery) -> FailureRate:
    rate = await q.rollups.failure_rate(q.since, q.until, q.ref)
    return FailureRate(
        since=q.since,
        until=q.until,
        total_terminal=rate.total_terminal,
        completed_count=rate.completed_count,
        failed_count=rate.failed_count,
        timeout_count=rate.timeout_count,
        failure_rate_pct=rate.failure_rate_pct,
        points=[_point(r) for r in rate.points],
    )


@router.get("/workers/status", summary="Worker status transitions per hour, worker and new status")
async def worker_status(q: AnalyticsQuery, status: WorkerStatus | None = None) -> StatusSeries:
    rows = await q.rollups.worker_status(q.since, q.until, q.ref)
    return q.status_series([r for r in rows if status is None or r.status == status])
