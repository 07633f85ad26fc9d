"""Reads of the six hourly rollups (continuous aggregates on TimescaleDB, views on plain PostgreSQL).

Every query is over ``[since, until)`` with ``since`` floored to the hour, so the bucket holding
``since`` is included. On TimescaleDB the aggregates are real-time (``materialized_only = false``):
the hours not materialized yet are computed from the raw rows, so recent activity is always there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from attune_shared.repos.base import Filters
from attune_shared.types import Queryable

#: Terminal statuses counted by the failure rate: failures are ``failed`` and ``timeout``.
_TERMINAL = ("completed", "failed", "timeout")


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one hour: ``ref`` is the trigger, rule, action or worker name it is about;
    ``status`` is set by the status breakdowns only."""

    bucket: datetime
    ref: str
    value: float
    status: str | None = None


@dataclass(frozen=True, slots=True)
class FailureRate:
    """Share of terminal executions that failed or timed out, over the window and per hour.

    ``points`` carry the hourly rate in percent (hours without terminal executions are absent).
    """

    total_terminal: int
    completed_count: int
    failed_count: int
    timeout_count: int
    failure_rate_pct: float
    points: list[Point]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _pct(failures: int, total: int) -> float:
    return round(100.0 * failures / total, 2) if total else 0.0


class AnalyticsRepository:
    """Hourly points from the rollups; ``ref`` filters accept wildcards (``demo.*``)."""

    def __init__(self, db: Queryable) -> None:
        self.db = db

    async def _points(
        self,
        view: str,
        ref_column: str,
        value_column: str,
        since: datetime,
        until: datetime,
        ref: str | None,
        *,
        status_column: str | None = None,
        status: str | None = None,
    ) -> list[Point]:
        f = Filters().add("bucket >= ?", floor_hour(since)).add("bucket < ?", until)
        f.ref_pattern(ref_column, ref)
        if status_column is not None:
            f.add_if(f"{status_column} = ?", status)
        group = f"bucket, {ref_column}" + (f", {status_column}" if status_column else "")
        status_select = f", {status_column} AS status" if status_column else ""
        records = await self.db.fetch(
            f"SELECT bucket, {ref_column} AS ref{status_select}, sum({value_column})::bigint AS value "
            f"FROM {view}{f.where} GROUP BY {group} ORDER BY {group}",
            *f.args,
        )
        return [
            Point(r["bucket"], r["ref"], int(r["value"]), r["status"] if status_column else None)
            for r in records
        ]

    async def event_volume(self, since: datetime, until: datetime, ref: str | None = None) -> list[Point]:
        """Events stored per hour and trigger."""
        return await self._points("event_volume_hourly", "trigger_ref", "event_count", since, until, ref)

    async def enforcement_volume(
        self, since: datetime, until: datetime, ref: str | None = None
    ) -> list[Point]:
        """Enforcements created per hour and rule."""
        return await self._points(
            "enforcement_volume_hourly", "rule_ref", "enforcement_count", since, until, ref
        )

    async def execution_volume(
        self, since: datetime, until: datetime, ref: str | None = None, status: str | None = None
    ) -> list[Point]:
        """Executions created per hour and action (``status``: only those now in that status)."""
        if status is None:
            return await self._points(
                "execution_volume_hourly", "action_ref", "execution_count", since, until, ref
            )
        points = await self._points(
            "execution_volume_hourly",
            "action_ref",
            "execution_count",
            since,
            until,
            ref,
            status_column="status",
            status=status,
        )
        return [Point(p.bucket, p.ref, p.value) for p in points]

    async def execution_status(
        self, since: datetime, until: datetime, ref: str | None = None, status: str | None = None
    ) -> list[Point]:
        """Status transitions per hour, action and new status."""
        return await self._points(
            "execution_status_hourly",
            "action_ref",
            "transition_count",
            since,
            until,
            ref,
            status_column="new_status",
            status=status,
        )

    async def execution_throughput(
        self, since: datetime, until: datetime, ref: str | None = None
    ) -> list[Point]:
        """Executions requested per hour and action (from the history's INSERT rows)."""
        return await self._points(
            "execution_throughput_hourly", "action_ref", "execution_count", since, until, ref
        )

    async def worker_status(self, since: datetime, until: datetime, ref: str | None = None) -> list[Point]:
        """Worker status transitions per hour, worker name and new status."""
        return await self._points(
            "worker_status_hourly",
            "worker_name",
            "transition_count",
            since,
            until,
            ref,
            status_column="new_status",
        )

    async def failure_rate(self, since: datetime, until: datetime, ref: str | None = None) -> FailureRate:
        """Failed + timed-out executions over all terminal ones (completed, failed, timeout)."""
        f = Filters().add("bucket >= ?", floor_hour(since)).add("bucket < ?", until)
        f.add("new_status = ANY(?::text[])", list(_TERMINAL))
        f.ref_pattern("action_ref", ref)
        records = await self.db.fetch(
            "SELECT bucket, new_status, sum(transition_count)::bigint AS n "
            f"FROM execution_status_hourly{f.where} GROUP BY bucket, new_status ORDER BY bucket",
            *f.args,
        )
        hours: dict[datetime, dict[str, int]] = {}
        totals = dict.fromkeys(_TERMINAL, 0)
        for r in records:
            hours.setdefault(r["bucket"], dict.fromkeys(_TERMINAL, 0))[r["new_status"]] += int(r["n"])
            totals[r["new_status"]] += int(r["n"])
        label = ref or "*"
        points = [
            Point(bucket, label, _pct(c["failed"] + c["timeout"], sum(c.values())))
            for bucket, c in sorted(hours.items())
        ]
        total = sum(totals.values())
        return FailureRate(
            total_terminal=total,
            completed_count=totals["completed"],
            failed_count=totals["failed"],
            timeout_count=totals["timeout"],
            failure_rate_pct=_pct(totals["failed"] + totals["timeout"], total),
            points=points,
        )

    async def executions_by_status(self, statuses: Sequence[str]) -> dict[str, int]:
        """How many executions are in each of ``statuses`` now (uses the active-status index)."""
        records = await self.db.fetch(
            "SELECT status, count(*) AS n FROM execution WHERE status = ANY($1::text[]) GROUP BY status",
            list(statuses),
        )
        counts = dict.fromkeys(statuses, 0)
        counts.update({r["status"]: int(r["n"]) for r in records})
        return counts

    async def workers_by_status(self) -> dict[str, int]:
        """How many worker rows are in each status now."""
        records = await self.db.fetch("SELECT status, count(*) AS n FROM worker GROUP BY status")
        return {r["status"]: int(r["n"]) for r in records}
