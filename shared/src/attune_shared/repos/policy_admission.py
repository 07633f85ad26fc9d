"""Policy admissions: concurrency slots, FIFO queues and rate-limit counts (migration 0005).

Decisions for one ``(policy, group)`` must run in a transaction that first calls :meth:`lock`.
A slot is held by an ``active`` row whose execution is not terminal, so an execution that ends by
any path frees its slot.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from attune_shared.models import PolicyAdmission
from attune_shared.repos.base import Repository
from attune_shared.statuses import TERMINAL_STATUSES

_TERMINAL = sorted(TERMINAL_STATUSES)


class QueueHead(NamedTuple):
    policy: int
    group_key: str
    execution: int
    execution_created: datetime
    action_ref: str


class PolicyAdmissionRepository(Repository[PolicyAdmission]):
    table = "policy_admission"

    async def lock(self, policy: int, group_key: str) -> None:
        """Serialize decisions of one policy group until the current transaction ends."""
        await self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('attune.policy:' || $1::bigint || ':' || $2::text, 0))",
            policy,
            group_key,
        )

    async def of_execution(self, execution: int, created: datetime) -> builtins.list[PolicyAdmission]:
        return self._rows(
            await self.db.fetch(
                f"SELECT {self.select_list} FROM policy_admission WHERE execution = $1 AND execution_created = $2",
                execution,
                created,
            )
        )

    async def slots_taken(self, policy: int, group_key: str, *, excluding: int | None = None) -> int:
        """Active admissions of the group whose execution has not ended."""
        value: int = await self.db.fetchval(
            "SELECT count(*) FROM policy_admission a JOIN execution e "
            "ON e.id = a.execution AND e.created = a.execution_created "
            "WHERE a.policy = $1 AND a.group_key = $2 AND a.state = 'active' "
            "AND e.status <> ALL($3::text[]) AND a.execution IS DISTINCT FROM $4",
            policy,
            group_key,
            _TERMINAL,
            excluding,
        )
        return value

    async def head(self, policy: int, group_key: str) -> QueueHead | None:
        """The queued admission of the group requested first whose execution still waits."""
        record = await self.db.fetchrow(
            "SELECT a.policy, a.group_key, a.execution, a.execution_created, a.action_ref "
            "FROM policy_admission a JOIN execution e ON e.id = a.execution AND e.created = a.execution_created "
            "WHERE a.policy = $1 AND a.group_key = $2 AND a.state = 'queued' AND e.status <> ALL($3::text[]) "
            "ORDER BY a.execution_created, a.execution LIMIT 1",
            policy,
            group_key,
            _TERMINAL,
        )
        return None if record is None else QueueHead(*record)

    async def heads(self) -> builtins.list[QueueHead]:
        """The head of every non-empty queue (for the reconciler)."""
        records = await self.db.fetch(
            "SELECT DISTINCT ON (a.policy, a.group_key) a.policy, a.group_key, a.execution, "
            "a.execution_created, a.action_ref "
            "FROM policy_admission a JOIN execution e ON e.id = a.execution AND e.created = a.execution_created "
            "WHERE a.state = 'queued' AND e.status <> ALL($1::text[]) ORDER BY a.policy, a.group_key, a.execution_created, a.execution",
            _TERMINAL,
        )
        return [QueueHead(*r) for r in records]

    async def older_waiting(
        self,
        policy: int,
        action_ref: str,
        group_by: Sequence[str],
        group_key: str,
        execution: int,
        created: datetime,
    ) -> bool:
        """Whether an execution of the action and group requested before ``(created, execution)``
        still waits for its decision (``requested`` and due, or ``scheduling`` and not admitted):
        it goes first, even when its scheduler has not got to it yet."""
        group = ""
        args: list[object] = [action_ref, created, execution, policy]
        if group_by:
            args += [list(group_by), json.loads(group_key)]  # the jsonb codec takes Python values
            group = (
                " AND (SELECT jsonb_agg(e.config -> t.k ORDER BY t.n) "
                "FROM unnest($5::text[]) WITH ORDINALITY AS t(k, n)) = $6::jsonb"
            )
        value = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM execution e WHERE e.action_ref = $1 "
            "AND e.status IN ('requested', 'scheduling') AND (e.run_after IS NULL OR e.run_after <= now()) "
            "AND (e.created, e.id) < ($2, $3) AND NOT EXISTS (SELECT 1 FROM policy_admission a "
            "WHERE a.policy = $4 AND a.execution = e.id AND a.execution_created = e.created AND a.state = 'active')"
            f"{group})",
            *args,
        )
        return bool(value)

    async def admitted_since(
        self, policy: int, window_seconds: float, *, excluding: int | None = None
    ) -> int:
        """Admissions of the policy (all groups) within the last ``window_seconds``."""
        value: int = await self.db.fetchval(
            "SELECT count(*) FROM policy_admission WHERE policy = $1 AND state = 'active' "
            "AND admitted_at > now() - make_interval(secs => $2) AND execution IS DISTINCT FROM $3",
            policy,
            float(window_seconds),
            excluding,
        )
        return value

    async def enqueue(
        self, policy: int, group_key: str, execution: int, created: datetime, action_ref: str
    ) -> None:
        """Queue the execution at the back of its group (no-op when it has a row already)."""
        await self.db.execute(
            "INSERT INTO policy_admission (policy, group_key, execution, execution_created, action_ref, state) "
            "VALUES ($1, $2, $3, $4, $5, 'queued') ON CONFLICT (policy, execution, execution_created) DO NOTHING",
            policy,
            group_key,
            execution,
            created,
            action_ref,
        )

    async def admit(
        self, policy: int, group_key: str, execution: int, created: datetime, action_ref: str
    ) -> None:
        """Record the admission (a queued row becomes active)."""
        await self.db.execute(
            "INSERT INTO policy_admission "
            "(policy, group_key, execution, execution_created, action_ref, state, admitted_at) "
            "VALUES ($1, $2, $3, $4, $5, 'active', now()) ON CONFLICT (policy, execution, execution_created) "
            "DO UPDATE SET state = 'active', admitted_at = now() WHERE policy_admission.state = 'queued'",
            policy,
            group_key,
            execution,
            created,
            action_ref,
        )

    async def is_queued(self, execution: int, created: datetime) -> bool:
        value = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM policy_admission WHERE execution = $1 "
            "AND execution_created = $2 AND state = 'queued')",
            execution,
            created,
        )
        return bool(value)

    async def purge(self) -> int:
        """Delete rows no decision needs: their execution ended (or is gone) and, for a policy with a
        rate limit, they left its window."""
        status = await self.db.execute(
            "DELETE FROM policy_admission a USING policy p "
            "WHERE p.id = a.policy AND NOT EXISTS (SELECT 1 FROM execution e WHERE e.id = a.execution "
            "AND e.created = a.execution_created AND e.status <> ALL($1::text[])) "
            "AND (a.state = 'queued' OR p.rate_limit_window_seconds IS NULL "
            "OR a.admitted_at < now() - make_interval(secs => p.rate_limit_window_seconds))",
            _TERMINAL,
        )
        return int(status.split()[-1])
