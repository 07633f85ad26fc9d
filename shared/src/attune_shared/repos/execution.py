"""Executions: created requested, moved through their statuses by compare-and-set only."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from attune_shared.models import Execution
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository
from attune_shared.statuses import ExecutionStatus

#: Columns an update may set beside ``status``.
_UPDATABLE = frozenset({"result", "worker", "started_at", "run_after", "retry_reason"})


@dataclass(frozen=True, slots=True)
class NewExecution:
    """An execution to create. ``created`` is given only for an enforcement's top-level execution."""

    action_ref: str
    config: dict[str, Any] = field(default_factory=dict)
    action: int | None = None
    created: datetime | None = None
    enforcement: int | None = None
    rule_ref: str | None = None
    trigger_ref: str | None = None
    parent: int | None = None
    original_execution: int | None = None
    executor: int | None = None
    timeout_seconds: int | None = None
    retry_count: int = 0
    max_retries: int = 0
    retry_reason: str | None = None
    run_after: datetime | None = None
    trace_tag: str | None = None
    status: ExecutionStatus = ExecutionStatus.REQUESTED
    result: dict[str, Any] | None = None


class ExecutionRepository(TimeSeriesRepository[Execution]):
    table = "execution"

    async def create(self, new: NewExecution) -> Execution:
        values = {k: v for k, v in asdict(new).items() if not (k == "created" and v is None)}
        names = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO execution ({', '.join(names)}) VALUES ({placeholders}) RETURNING {self.select_list}",
            *values.values(),
        )
        return self._row(record)

    async def create_for_enforcement(self, new: NewExecution) -> tuple[Execution, bool]:
        """The enforcement's one top-level execution: returns ``(row, created_now)``.

        ``new.created`` must be the enforcement's ``created``; a second call returns the first row.
        """
        if new.enforcement is None or new.created is None or new.parent or new.original_execution:
            raise ValueError("a top-level enforcement execution needs enforcement and created, no parent")
        values = asdict(new)
        names = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO execution ({', '.join(names)}) VALUES ({placeholders}) "
            "ON CONFLICT (enforcement, created) "
            "WHERE enforcement IS NOT NULL AND parent IS NULL AND original_execution IS NULL DO NOTHING "
            f"RETURNING {self.select_list}",
            *values.values(),
        )
        if record is not None:
            return self._row(record), True
        existing = await self.db.fetchrow(
            f"SELECT {self.select_list} FROM execution WHERE enforcement = $1 AND created = $2 "
            "AND parent IS NULL AND original_execution IS NULL",
            new.enforcement,
            new.created,
        )
        return self._row(existing), False

    async def update_status(
        self,
        id: int,
        created: datetime,
        old: ExecutionStatus | Collection[ExecutionStatus],
        new: ExecutionStatus,
        **changes: Any,
    ) -> bool:
        """Compare-and-set: move to ``new`` only if the status is (one of) ``old``. True if this call won.

        ``changes`` may set ``result``, ``worker``, ``started_at``, ``run_after``, ``retry_reason``.
        """
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"execution: cannot set {sorted(unknown)} with a status change")
        olds = [old] if isinstance(old, str) else list(old)
        f = Filters().add("id = ?", id).add("created = ?", created).add("status = ANY(?::text[])", olds)
        sets = [f"status = {f.param(new)}"] + [f"{k} = {f.param(v)}" for k, v in changes.items()]
        result = await self.db.execute(f"UPDATE execution SET {', '.join(sets)}{f.where}", *f.args)
        return result != "UPDATE 0"

    async def list(
        self,
        *,
        status: ExecutionStatus | Collection[ExecutionStatus] | None = None,
        action_ref: str | None = None,
        rule_ref: str | None = None,
        trigger_ref: str | None = None,
        enforcement: int | None = None,
        parent: int | None = None,
        worker: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = MAX_PAGE,
    ) -> list[Execution]:
        f = Filters()
        if status is not None:
            f.add("status = ANY(?::text[])", [status] if isinstance(status, str) else list(status))
        f.ref_pattern("action_ref", action_ref)
        f.ref_pattern("rule_ref", rule_ref)
        f.ref_pattern("trigger_ref", trigger_ref)
        f.add_if("enforcement = ?", enforcement).add_if("parent = ?", parent).add_if("worker = ?", worker)
        f.add_if("created >= ?", since).add_if("created < ?", until).add_if("id < ?", before_id)
        return await self._select(f, limit=limit)

    async def stuck(
        self, statuses: Collection[ExecutionStatus], older_than: timedelta, *, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """Executions in ``statuses`` not updated for ``older_than``, oldest first."""
        f = Filters().add("status = ANY(?::text[])", list(statuses))
        f.add("updated < now() - ?::interval", older_than)
        return await self._select(f, order="updated", limit=limit)

    async def children(self, parent_ids: Sequence[int]) -> builtins.list[Execution]:
        if not parent_ids:
            return []
        return await self._select(Filters().add("parent = ANY(?::bigint[])", list(parent_ids)), order="id")
