"""Analytics from the hourly rollups (continuous aggregates on TimescaleDB, views otherwise).

Window: ``since``/``until`` (ISO 8601), or the last ``hours`` (default 24, clamped to 1..8760)
before ``until`` (default now). Points are hourly: ``{bucket, ref, value}``; the status breakdowns
add ``status``. Recent hours are always included (real-time aggregates).
"""

from __future__ import annotations

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


def window(since: Since = None, until: Until = None, hours: Hours = 24) -> tuple[datetime, datetime]:
    """The query's time window: ``since``..``until``, or the last ``hours`` before ``until`` (now)."""
    end = utc(until) or datetime.now(UTC)
    start = utc(since) or end - timedelta(hours=min(max(hours, 1), 8760))
    if start >= end:
        raise ProblemError(
            422, "since: must be before until", errors=[("query.since", "must be before until")]
        )
    return start, end


Window = Annotated[tuple[datetime, datetime], Depends(window)]


def _points(rows: list[Row]) -> list[Point]:
    return [Point(bucket=r.bucket, ref=r.ref, value=r.value) for r in rows]


def _status_points(rows: list[Row]) -> list[StatusPoint]:
    return [StatusPoint(bucket=r.bucket, ref=r.ref, value=r.value, status=r.status or "") for r in rows]


@router.get("/events/volume", summary="Events per hour and trigger")
async def event_volume(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
) -> Series:
    start, end = span
    return Series(
        since=start, until=end, points=_points(await AnalyticsRepository(pool).event_volume(start, end, ref))
    )


@router.get("/enforcements/volume", summary="Enforcements per hour and rule")
async def enforcement_volume(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
) -> Series:
    start, end = span
    rows = await AnalyticsRepository(pool).enforcement_volume(start, end, ref)
    return Series(since=start, until=end, points=_points(rows))


@router.get(
    "/executions/volume",
    summary="Executions created per hour and action (optionally only those now in `status`)",
)
async def execution_volume(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
    status: ExecutionStatus | None = None,
) -> Series:
    start, end = span
    rows = await AnalyticsRepository(pool).execution_volume(start, end, ref, status)
    return Series(since=start, until=end, points=_points(rows))


@router.get("/executions/status", summary="Status transitions per hour, action and new status")
async def execution_status(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
    status: ExecutionStatus | None = None,
) -> StatusSeries:
    start, end = span
    rows = await AnalyticsRepository(pool).execution_status(start, end, ref, status)
    return StatusSeries(since=start, until=end, points=_status_points(rows))


@router.get("/executions/throughput", summary="Executions requested per hour and action")
async def execution_throughput(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
) -> Series:
    start, end = span
    rows = await AnalyticsRepository(pool).execution_throughput(start, end, ref)
    return Series(since=start, until=end, points=_points(rows))


@router.get("/executions/failure-rate", summary="Share of terminal executions that failed or timed out")
async def failure_rate(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
) -> FailureRate:
    start, end = span
    rate = await AnalyticsRepository(pool).failure_rate(start, end, ref)
    return FailureRate(
        since=start,
        until=end,
        total_terminal=rate.total_terminal,
        completed_count=rate.completed_count,
        failed_count=rate.failed_count,
        timeout_count=rate.timeout_count,
        failure_rate_pct=rate.failure_rate_pct,
        points=_points(rate.points),
    )


@router.get("/workers/status", summary="Worker status transitions per hour, worker and new status")
async def worker_status(
    _: Viewer,
    pool: PoolDep,
    span: Window,
    ref: RefFilter = None,
    status: WorkerStatus | None = None,
) -> StatusSeries:
    start, end = span
    rows = await AnalyticsRepository(pool).worker_status(start, end, ref)
    if status is not None:
        rows = [r for r in rows if r.status == status]
    return StatusSeries(since=start, until=end, points=_status_points(rows))
