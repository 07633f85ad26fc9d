"""Executions: created requested, moved through their statuses by compare-and-set only."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from attune_shared.models import Enforcement, Execution
from attune_shared.repos.base import MAX_PAGE, Filters, TimeSeriesRepository
from attune_shared.repos.enforcement import (
    EnforcementRepository,
    NewEnforcement,
    Resolution,
    resolve_args,
    resolve_sql,
)
from attune_shared.statuses import ExecutionStatus, WorkerStatus


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
class NewExecution:
    """An execution to create. ``created`` is given only for an enforcement's top-level execution.
    One created ``running`` (with ``worker`` and ``started_at``) is recorded in history as created
    ``requested`` and started (migration 0019)."""

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
    secrets: str | None = None
    status: ExecutionStatus = ExecutionStatus.REQUESTED
    result: dict[str, Any] | None = None
    task_name: str | None = None
    task_item: int | None = None
    worker: int | None = None
    started_at: datetime | None = None


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
class StatusChange:
    """One compare-and-set of :meth:`ExecutionRepository.update_status_many`: ``old`` -> ``new``,
    also setting the columns named in ``changes`` (``result``, ``worker``, ``started_at``)."""

    id: int
    created: datetime
    old: tuple[ExecutionStatus, ...]
    new: ExecutionStatus
    changes: dict[str, Any] = field(default_factory=dict)


_BATCH_UPDATABLE = ("result", "worker", "started_at")
_UPDATE_MANY = (
    "WITH u AS (SELECT id, created, old, new, result, set_result, worker, set_worker, started_at, set_started "
    "FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::jsonb[], "
    "$6::bool[], $7::bigint[], $8::bool[], $9::timestamptz[], $10::bool[]) "
    "AS u(id, created, old, new, result, set_result, worker, set_worker, started_at, set_started)), "
    # lock in id order so concurrent batches cannot deadlock, and read the status being replaced
    "prev AS (SELECT x.id, x.created, x.status FROM execution x JOIN u ON x.id = u.id AND x.created = u.created "
    "ORDER BY x.id FOR UPDATE OF x) "
    "UPDATE execution AS e SET status = u.new, "
    "result = CASE WHEN u.set_result THEN u.result ELSE e.result END, "
    "worker = CASE WHEN u.set_worker THEN u.worker ELSE e.worker END, "
    "started_at = CASE WHEN u.set_started THEN u.started_at ELSE e.started_at END "
    "FROM u, prev WHERE e.id = u.id AND e.created = u.created AND prev.id = e.id AND prev.created = e.created "
    "AND prev.status = ANY(string_to_array(u.old, ',')) "
    "RETURNING e.id, prev.status AS previous"
)

#: Columns of an enforcement's top-level execution, written by :meth:`ExecutionRepository.create_for_enforcements`.
_ENFORCED_COLUMNS = (
    "created",
    "action",
    "action_ref",
    "config",
    "enforcement",
    "rule_ref",
    "trigger_ref",
    "timeout_seconds",
    "max_retries",
    "trace_tag",
    "secrets",
    "status",
    "worker",
    "started_at",
)
_ENFORCED_TYPES = (
    "timestamptz[]",
    "bigint[]",
    "text[]",
    "jsonb[]",
    "bigint[]",
    "text[]",
    "text[]",
    "integer[]",
    "integer[]",
    "text[]",
    "text[]",
    "text[]",
    "bigint[]",
    "timestamptz[]",
)
#: The PostgreSQL array type of each :class:`NewExecution` field, for :func:`insert_many`.
_NEW_TYPES = {
    "action_ref": "text[]",
    "config": "jsonb[]",
    "action": "bigint[]",
    "created": "timestamptz[]",
    "enforcement": "bigint[]",
    "rule_ref": "text[]",
    "trigger_ref": "text[]",
    "parent": "bigint[]",
    "original_execution": "bigint[]",
    "executor": "bigint[]",
    "timeout_seconds": "integer[]",
    "retry_count": "integer[]",
    "max_retries": "integer[]",
    "retry_reason": "text[]",
    "run_after": "timestamptz[]",
    "trace_tag": "text[]",
    "status": "text[]",
    "result": "jsonb[]",
    "task_name": "text[]",
    "task_item": "integer[]",
    "secrets": "text[]",
    "worker": "bigint[]",
    "started_at": "timestamptz[]",
}


# not frozen: built per message (docs/decisions.md, "Records built per message are not frozen")
@dataclass(slots=True)
class Enforced:
    """An enforcement created already resolved, by :meth:`ExecutionRepository.create_enforced`:
    ``processed`` with ``execution`` (its top-level execution: the action's columns, ``status``,
    ``worker`` and ``started_at``; the rest is the enforcement's), or ``disabled`` for
    ``failure_reason``."""

    enforcement: NewEnforcement
    execution: NewExecution | None = None
    failure_reason: str | None = None


_ENFORCED_INPUT = (
    ("rule", "bigint[]"),
    ("rule_ref", "text[]"),
    ("trigger_ref", "text[]"),
    ("event", "bigint[]"),
    ("created", "timestamptz[]"),
    ("config", "jsonb[]"),
    ("condition", "text[]"),
    ("criteria", "jsonb[]"),
    ("trace_tag", "text[]"),
    ("secrets", "text[]"),
    ("status", "text[]"),
    ("failure_reason", "text[]"),
    ("action", "bigint[]"),
    ("action_ref", "text[]"),
    ("timeout_seconds", "integer[]"),
    ("max_retries", "integer[]"),
    ("x_status", "text[]"),
    ("worker", "bigint[]"),
    ("started_at", "timestamptz[]"),
)
#: The top-level execution's columns taken from its enforcement (``f``) or from the input (``u``).
_ENFORCED_EXECUTION = (
    ("created", "f.created"),
    ("action", "u.action"),
    ("action_ref", "u.action_ref"),
    ("config", "f.config"),
    ("enforcement", "f.id"),
    ("rule_ref", "f.rule_ref"),
    ("trigger_ref", "f.trigger_ref"),
    ("timeout_seconds", "u.timeout_seconds"),
    ("max_retries", "u.max_retries"),
    ("trace_tag", "f.trace_tag"),
    ("secrets", "f.secrets"),
    ("status", "u.x_status"),
    ("worker", "u.worker"),
    ("started_at", "u.started_at"),
)


def insert_many(rows: Sequence[NewExecution], first: int = 1) -> tuple[str, builtins.list[Any]]:
    """``INSERT INTO execution … RETURNING`` every column, for ``rows`` (``created`` now), and its
    arguments (numbered from ``$first``). Ids follow the order of ``rows``."""
    names = [n for n in _NEW_TYPES if n != "created"]
    unnest = ", ".join(f"${i}::{_NEW_TYPES[n]}" for i, n in enumerate(names, start=first))
    sql = (
        f"INSERT INTO execution ({', '.join(names)}) SELECT {', '.join('u.' + n for n in names)} "
        f"FROM unnest({unnest}) WITH ORDINALITY AS u({', '.join(names)}, n) ORDER BY u.n "
        f"RETURNING {ExecutionRepository.select_list}"
    )
    return sql, [[getattr(r, n) for r in rows] for n in names]


_LIVE_WORKER = (
    "EXISTS (SELECT 1 FROM worker w WHERE w.id = execution.worker AND w.status = ANY($2::text[]) "
    "AND w.last_heartbeat >= now() - $3::interval)"
)


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

    async def create_many(self, rows: Sequence[NewExecution]) -> builtins.list[Execution]:
        """Create executions (``created`` now) in one statement; returned in input order."""
        if not rows:
            return []
        sql, args = insert_many(rows)
        return sorted(self._rows(await self.db.fetch(sql, *args)), key=lambda x: x.id)

    async def create_for_enforcements(
        self,
        rows: Sequence[NewExecution],
        *,
        resolve: Sequence[Resolution] = (),
    ) -> builtins.list[tuple[Execution, bool]]:
        """The one top-level execution of each enforcement (``new.created`` is the enforcement's
        ``created``), in one statement (plus one to read the rows that existed already); one
        ``(row, created_now)`` per input, in input order: a second call returns the first rows.

        ``resolve`` lists ``(id, created, status, failure_reason)`` of enforcements to resolve in the
        same statement (as :meth:`EnforcementRepository.resolve_many`), so an enforcement is
        ``processed`` exactly when its execution exists."""
        if not rows:
            if resolve:
                await self.db.execute(resolve_sql(1), *resolve_args(resolve))
            return []
        for new in rows:
            if new.enforcement is None or new.created is None or new.parent or new.original_execution:
                raise ValueError("a top-level enforcement execution needs enforcement and created, no parent")
        values: list[Any] = [[getattr(r, c) for r in rows] for c in _ENFORCED_COLUMNS]
        cols = ", ".join(_ENFORCED_COLUMNS)
        unnest = ", ".join(f"${i}::{t}" for i, t in enumerate(_ENFORCED_TYPES, start=1))
        values += resolve_args(resolve)
        records = await self.db.fetch(
            f"WITH resolved AS ({resolve_sql(len(_ENFORCED_TYPES) + 1)}) "
            f"INSERT INTO execution ({cols}) SELECT {', '.join('u.' + c for c in _ENFORCED_COLUMNS)} "
            f"FROM unnest({unnest}) AS u({cols}) ON CONFLICT (enforcement, created) "
            "WHERE enforcement IS NOT NULL AND parent IS NULL AND original_execution IS NULL DO NOTHING "
            f"RETURNING {self.select_list}",
            *values,
        )
        created = {(r["enforcement"], r["created"]): self._row(r) for r in records}
        missing = [r for r in rows if (r.enforcement, r.created) not in created]
        existing: dict[tuple[int | None, datetime | None], Execution] = {}
        if missing:
            found = await self.db.fetch(
                f"SELECT {self.select_list} FROM execution WHERE (enforcement, created) IN "
                "(SELECT k.e, k.c FROM unnest($1::bigint[], $2::timestamptz[]) AS k(e, c)) "
                "AND parent IS NULL AND original_execution IS NULL",
                [r.enforcement for r in missing],
                [r.created for r in missing],
            )
            existing = {(r["enforcement"], r["created"]): self._row(r) for r in found}
        result = []
        for r in rows:
            key = (r.enforcement, r.created)
            result.append((created[key], True) if key in created else (existing[key], False))
        return result

    async def create_enforced(
        self, items: Sequence[Enforced]
    ) -> builtins.list[tuple[Enforcement, Execution | None] | None]:
        """Enforcements created already resolved, with the executions of the processed ones, in
        one statement (one transaction, and no row version of a pending enforcement). One result per
        item, in order: ``None`` where the (rule, event) had an enforcement already (a redelivered
        event; :meth:`EnforcementRepository.create_many` returns it)."""
        if not items:
            return []
        for item in items:
            if (item.execution is None) == (item.failure_reason is None):
                raise ValueError("an enforcement is created processed (with its execution) or disabled")
        values: list[list[Any]] = [[] for _ in _ENFORCED_INPUT]
        for item in items:
            e, x = item.enforcement, item.execution
            row = (
                e.rule, e.rule_ref, e.trigger_ref, e.event, e.event_created, e.config, e.condition,
                e.criteria, e.trace_tag, e.secrets,
                "processed" if x is not None else "disabled", item.failure_reason,
                x and x.action, x and x.action_ref, x and x.timeout_seconds, x and x.max_retries,
                x and x.status, x and x.worker, x and x.started_at,
            )  # fmt: skip
            for column, value in zip(values, row, strict=True):
                column.append(value)
        names = [n for n, _ in _ENFORCED_INPUT]
        unnest = ", ".join(f"${i}::{t}" for i, (_, t) in enumerate(_ENFORCED_INPUT, start=1))
        enforcement_columns = EnforcementRepository.columns
        written = [c for c in enforcement_columns if c not in ("id", "resolved_at")]
        records = await self.db.fetch(
            f"WITH u AS (SELECT {', '.join(names)} FROM unnest({unnest}) AS u({', '.join(names)})), "
            f"f AS (INSERT INTO enforcement ({', '.join(written)}, resolved_at) "
            f"SELECT {', '.join('u.' + c for c in written)}, now() FROM u "
            f"ON CONFLICT (rule, event, created) DO NOTHING RETURNING {EnforcementRepository.select_list}), "
            f"x AS (INSERT INTO execution ({', '.join(c for c, _ in _ENFORCED_EXECUTION)}) "
            f"SELECT {', '.join(v for _, v in _ENFORCED_EXECUTION)} FROM f JOIN u "
            "ON u.rule = f.rule AND u.event = f.event AND u.created = f.created WHERE f.status = 'processed' "
            f"RETURNING {self.select_list}) "
            f"SELECT {', '.join('f.' + c for c in enforcement_columns)}, "
            f"{', '.join(f'x.{c} AS x_{c}' for c in self.columns)} "
            "FROM f LEFT JOIN x ON x.enforcement = f.id AND x.created = f.created",
            *values,
        )
        made: dict[tuple[Any, ...], tuple[Enforcement, Execution | None]] = {}
        split = len(enforcement_columns)
        for r in records:
            cells = tuple(r)  # the enforcement's columns, then the execution's, as selected
            enforcement = Enforcement.model_validate(
                dict(zip(enforcement_columns, cells[:split], strict=True))
            )
            execution = (
                None
                if r["x_id"] is None
                else Execution.model_validate(dict(zip(self.columns, cells[split:], strict=True)))
            )
            made[(enforcement.rule, enforcement.event, enforcement.created)] = (enforcement, execution)
        return [
            made.get((i.enforcement.rule, i.enforcement.event, i.enforcement.event_created)) for i in items
        ]

    async def update_status_many(
        self, changes: Sequence[StatusChange]
    ) -> builtins.list[ExecutionStatus | None]:
        """Many compare-and-sets in one statement. One result per change, in order: the status it
        replaced when it won, ``None`` when it lost. An execution may appear only once per call.
        """
        if not changes:
            return []
        if len({c.id for c in changes}) != len(changes):
            raise ValueError("execution: one change per execution and call")
        for c in changes:
            unknown = set(c.changes) - set(_BATCH_UPDATABLE)
            if unknown:
                raise ValueError(f"execution: cannot set {sorted(unknown)} in a batched status change")
        won = {
            r["id"]: ExecutionStatus(r["previous"])
            for r in await self.db.fetch(
                _UPDATE_MANY,
                [c.id for c in changes],
                [c.created for c in changes],
                [",".join(c.old) for c in changes],
                [c.new for c in changes],
                [c.changes.get("result") for c in changes],
                ["result" in c.changes for c in changes],
                [c.changes.get("worker") for c in changes],
                ["worker" in c.changes for c in changes],
                [c.changes.get("started_at") for c in changes],
                ["started_at" in c.changes for c in changes],
            )
        }
        return [won.get(c.id) for c in changes]

    async def start_many(
        self, keys: Sequence[tuple[int, datetime]], worker: int, started_at: datetime
    ) -> builtins.list[Execution]:
        """``requested`` -> ``scheduling`` -> ``scheduled`` (``worker``) -> ``running`` (``started_at``)
        for every execution of ``keys`` that is ``requested`` and due, in one round trip (the
        ``execution_start`` function of migration 0005). Returns the rows now running."""
        if not keys:
            return []
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM execution_start($1::bigint[], $2::timestamptz[], $3, $4)",
            [k[0] for k in keys],
            [k[1] for k in keys],
            worker,
            started_at,
        )
        return self._rows(records)

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

    async def without_live_worker(
        self, statuses: Collection[ExecutionStatus], worker_timeout: timedelta, *, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """Executions in ``statuses`` whose worker is missing, not active, or silent for ``worker_timeout``.
        Workflows that started are not tied to their worker's process and are left out."""
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM execution WHERE status = ANY($1::text[]) AND NOT {_LIVE_WORKER} "
            "AND workflow_def IS NULL "
            "ORDER BY updated LIMIT $4",
            list(statuses),
            [WorkerStatus.ACTIVE, WorkerStatus.BUSY],
            worker_timeout,
            min(limit, MAX_PAGE),
        )
        return self._rows(records)

    async def of_worker(
        self, worker: int, statuses: Collection[ExecutionStatus], *, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """A worker's executions in ``statuses``, except workflows that started (they run on no process)."""
        f = Filters().add("worker = ?", worker).add("status = ANY(?::text[])", list(statuses))
        f.clauses.append("workflow_def IS NULL")
        return await self._select(f, order="updated", limit=limit)

    async def requested_due(
        self, older_than: timedelta, *, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """``requested`` executions untouched for ``older_than`` whose ``run_after`` has come (their
        wake-up was probably lost), oldest first."""
        f = Filters().add("status = ?", ExecutionStatus.REQUESTED)
        f.add("updated < now() - ?::interval", older_than)
        f.clauses.append("(run_after IS NULL OR run_after <= now())")
        return await self._select(f, order="updated", limit=limit)

    async def scheduling_unqueued(
        self, older_than: timedelta, *, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """``scheduling`` executions untouched for ``older_than`` that wait in no policy queue: the
        scheduler that claimed them stopped before deciding."""
        f = Filters().add("status = ?", ExecutionStatus.SCHEDULING)
        f.add("updated < now() - ?::interval", older_than)
        f.clauses.append(
            "NOT EXISTS (SELECT 1 FROM policy_admission a WHERE a.execution = execution.id "
            "AND a.execution_created = execution.created AND a.state = 'queued')"
        )
        return await self._select(f, order="updated", limit=limit)

    async def children_of(
        self, parent: int, *, after_id: int | None = None, limit: int = MAX_PAGE
    ) -> builtins.list[Execution]:
        """A workflow's children (its tasks), oldest first, from ``after_id`` on."""
        f = Filters().add("parent = ?", parent).add_if("id > ?", after_id)
        return await self._select(f, order="id", limit=limit)

    async def children(self, parent_ids: Sequence[int]) -> builtins.list[Execution]:
        if not parent_ids:
            return []
        return await self._select(Filters().add("parent = ANY(?::bigint[])", list(parent_ids)), order="id")
