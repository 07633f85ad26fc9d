"""Execution policies, decided when an execution is scheduled.

- **concurrency** (``concurrency_limit``, optionally per ``concurrency_group_by`` parameter values):
  at most N admitted executions of the group are not terminal. Over the limit, ``enqueue`` waits in
  a durable FIFO queue (the execution stays ``scheduling``) and ``cancel`` cancels it.
- **rate limit** (``rate_limit_max`` per ``rate_limit_window_seconds``): at most N admissions of the
  action within the sliding window; one more is cancelled.

Decisions for one policy group are serialized across replicas with a transaction-scoped advisory
lock (:meth:`PolicyAdmissionRepository.lock`). A queued execution is admitted only at the head of
its queue, so order holds whoever retries it. When a slot holder ends, the head is woken up with an
``execution.requested`` message (the maintenance loop repeats that for every queue, so a lost
wake-up only delays it); a queued execution that takes a slot wakes the next head while slots are
free, so one wake-up refills every free slot.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from attune_shared.bus import Bus, ExecutionRequested
from attune_shared.metrics import POLICY_DECISIONS
from attune_shared.models import Execution, Policy
from attune_shared.repos import PolicyAdmissionRepository, QueueHead

log = logging.getLogger("attune.executor.policies")

Outcome = Literal["admit", "queue", "cancel", "skip"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str | None = None
    policy: str | None = None

    def result(self) -> dict[str, Any]:
        """The execution result of a policy cancellation."""
        return {"succeeded": False, "cancelled": True, "error": self.reason, "policy": self.policy}


def group_key(policy: Policy, params: dict[str, Any]) -> str:
    """The concurrency group of ``params`` under ``policy``: a JSON array of the grouped values."""
    if not policy.concurrency_group_by:
        return ""
    values = [params.get(name) for name in policy.concurrency_group_by]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def _describe_group(policy: Policy, params: dict[str, Any]) -> str:
    if not policy.concurrency_group_by:
        return ""
    pairs = ", ".join(f"{name}={params.get(name)!r}" for name in policy.concurrency_group_by)
    return f" for {pairs}"


class PolicyEngine:
    def __init__(self, pool: asyncpg.Pool, bus: Bus) -> None:
        self.pool = pool
        self.bus = bus

    async def decide(
        self, execution: Execution, policies: list[Policy], *, queued_only: bool = False
    ) -> Decision:
        """Admit, queue or cancel ``execution`` (status ``scheduling``). With ``queued_only`` (a
        wake-up of an execution that was queued), ``skip`` unless it still waits in a queue."""
        wake: list[QueueHead] = []
        decision = await self._decide(execution, sorted(policies, key=lambda p: p.id), queued_only, wake)
        await self._wake(wake)  # after the commit
        if decision.outcome != "skip":
            POLICY_DECISIONS.labels(decision.outcome).inc()
        return decision

    async def _decide(
        self, x: Execution, ordered: list[Policy], queued_only: bool, wake: list[QueueHead]
    ) -> Decision:
        params = x.config
        groups = {p.id: group_key(p, params) for p in ordered}
        locks = sorted(
            {(p.id, groups[p.id]) for p in ordered if p.concurrency_limit}
            | {(p.id, "") for p in ordered if p.rate_limit_max}
        )
        async with self.pool.acquire() as conn, conn.transaction():
            repo = PolicyAdmissionRepository(conn)
            for policy_id, key in locks:
                await repo.lock(policy_id, key)
            mine = {a.policy: a for a in await repo.of_execution(x.id, x.created)}
            if queued_only and not any(a.state == "queued" for a in mine.values()):
                return Decision("skip")
            pending = [p for p in ordered if not (p.id in mine and mine[p.id].state == "active")]
            blocked: list[Policy] = []
            for p in pending:
                if not p.concurrency_limit:
                    continue
                if await self._slot_for(repo, x, p, groups[p.id], wake):
                    continue
                if p.concurrency_method == "cancel":
                    return Decision(
                        "cancel",
                        f"concurrency limit of policy {p.ref} reached: {p.concurrency_limit} at a time"
                        f"{_describe_group(p, params)}",
                        p.ref,
                    )
                blocked.append(p)
            if blocked:
                for p in blocked:
                    await repo.enqueue(p.id, groups[p.id], x.id, x.created, x.action_ref)
                return Decision("queue", f"waiting for a slot of policy {blocked[0].ref}", blocked[0].ref)
            for p in pending:
                if p.rate_limit_max and p.rate_limit_window_seconds:
                    admitted = await repo.admitted_since(p.id, p.rate_limit_window_seconds)
                    if admitted >= p.rate_limit_max:
                        return Decision(
                            "cancel",
                            f"rate limit of policy {p.ref} reached: {p.rate_limit_max} executions "
                            f"per {p.rate_limit_window_seconds} s",
                            p.ref,
                        )
            for p in pending:
                await repo.admit(p.id, groups[p.id], x.id, x.created, x.action_ref)
            if any(a.state == "queued" for a in mine.values()):
                await self._next_in_line(repo, pending, groups, wake)
        return Decision("admit")

    @staticmethod
    async def _next_in_line(
        repo: PolicyAdmissionRepository, admitted: list[Policy], groups: dict[int, str], wake: list[QueueHead]
    ) -> None:
        """A queued execution took a slot: if another slot is free, wake the new head too. Slot
        holders that end together all wake the same head, and a wake-up may be lost; without this a
        queue would refill one slot for several and run one at a time from then on."""
        for p in admitted:
            if p.concurrency_limit and p.concurrency_method == "enqueue":
                if await repo.slots_taken(p.id, groups[p.id]) < p.concurrency_limit:
                    head = await repo.head(p.id, groups[p.id])
                    if head is not None:
                        wake.append(head)

    @staticmethod
    async def _slot_for(
        repo: PolicyAdmissionRepository, x: Execution, p: Policy, group: str, wake: list[QueueHead]
    ) -> bool:
        """Whether ``x`` may take a slot of ``p`` now: one is free and (for ``enqueue``) nothing
        requested before it waits for the group (queued, or not decided yet)."""
        assert p.concurrency_limit is not None
        if await repo.slots_taken(p.id, group) >= p.concurrency_limit:
            return False
        if p.concurrency_method == "cancel":
            return True  # no queue, so no order to keep
        head = await repo.head(p.id, group)
        if head is not None and head.execution != x.id:
            wake.append(head)  # a slot is free: the head of the queue takes it
            return False
        return not await repo.older_waiting(
            p.id, x.action_ref, p.concurrency_group_by, group, x.id, x.created
        )

    async def _wake(self, heads: list[QueueHead]) -> None:
        for head in heads:
            await self.bus.execution_requested(
                ExecutionRequested(
                    execution_id=head.execution, created=head.execution_created, action_ref=head.action_ref
                )
            )

    async def release(self, execution: Execution, policies: list[Policy]) -> None:
        """A slot holder ended: wake up the head of each of its queues."""
        queued = [p for p in policies if p.concurrency_limit and p.concurrency_method == "enqueue"]
        if not queued:
            return
        repo = PolicyAdmissionRepository(self.pool)
        heads = [await repo.head(p.id, group_key(p, execution.config)) for p in queued]
        await self._wake([h for h in heads if h is not None])
