"""``enforcement.created`` -> the enforcement's execution (``requested``), or ``disabled``.

Rules and actions are read fresh (two queries per batch), so a rule disabled or an action deleted
since the event matched disables the enforcement. Executions are created before the enforcements
resolve; both steps are idempotent, so a crash in between is repaired by redelivery or the reconciler.
"""

from __future__ import annotations

import logging

import asyncpg

from attune_executor.consumer import Delivery
from attune_shared import executions
from attune_shared.bus import Bus, EnforcementCreated, ExecutionRequested, gather_bounded
from attune_shared.errors import PermanentError
from attune_shared.metrics import ENFORCEMENTS
from attune_shared.models import Enforcement, Execution
from attune_shared.repos import (
    ActionRepository,
    EnforcementRepository,
    ExecutionRepository,
    NewExecution,
    RuleRepository,
)
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import EnforcementStatus, ExecutionStatus

log = logging.getLogger("attune.executor.enforcements")


class EnforcementProcessor:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, settings: ExecutorSettings) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings

    async def handle(self, deliveries: list[Delivery[EnforcementCreated]]) -> None:
        keys = [(d.body.enforcement_id, d.body.created) for d in deliveries]
        found = await EnforcementRepository(self.pool).get_keys(keys)
        for d in deliveries:
            if d.body.enforcement_id not in found:
                d.error = PermanentError(
                    "enforcement_not_found",
                    f"enforcement {d.body.enforcement_id} ({d.body.created}) does not exist",
                )
        pending = [e for e in found.values() if e.status is EnforcementStatus.CREATED]
        if pending:
            await self.process(pending)

    async def process(self, pending: list[Enforcement]) -> None:
        rules = await RuleRepository(self.pool).get_many({e.rule for e in pending if e.rule is not None})
        actions = await ActionRepository(self.pool).get_by_refs({r.action_ref for r in rules.values()})
        disabled: list[tuple[Enforcement, str]] = []
        accepted: list[tuple[Enforcement, NewExecution]] = []
        for e in pending:
            rule = rules.get(e.rule) if e.rule is not None else None
            action = actions.get(rule.action_ref) if rule is not None else None
            if rule is None:
                disabled.append((e, f"rule {e.rule_ref} no longer exists"))
            elif not rule.enabled:
                disabled.append((e, f"rule {rule.ref} is disabled"))
            elif action is None:
                disabled.append((e, f"action {rule.action_ref} does not exist"))
            elif not action.enabled:
                disabled.append((e, f"action {action.ref} is disabled"))
            else:
                accepted.append(
                    (
                        e,
                        NewExecution(
                            action_ref=action.ref,
                            action=action.id,
                            config=e.config,
                            created=e.created,
                            enforcement=e.id,
                            rule_ref=e.rule_ref,
                            trigger_ref=e.trigger_ref,
                            timeout_seconds=action.timeout_seconds or self.settings.default_timeout,
                            max_retries=action.max_retries,
                            trace_tag=e.trace_tag,
                        ),
                    )
                )
        rows = await ExecutionRepository(self.pool).create_for_enforcements([new for _, new in accepted])
        await EnforcementRepository(self.pool).resolve_many(
            [(e.id, e.created, EnforcementStatus.PROCESSED, None) for e, _ in accepted]
            + [(e.id, e.created, EnforcementStatus.DISABLED, reason) for e, reason in disabled]
        )
        ENFORCEMENTS.labels("processed").inc(len(accepted))
        ENFORCEMENTS.labels("disabled").inc(len(disabled))
        for e, reason in disabled:
            log.info(
                "enforcement.disabled", extra={"enforcement": e.id, "rule": e.rule_ref, "reason": reason}
            )
        await gather_bounded(
            self._announce(x, new) for x, new in rows if x.status is ExecutionStatus.REQUESTED
        )

    async def _announce(self, execution: Execution, created_now: bool) -> None:
        if created_now:
            await executions.publish_requested(self.bus, execution)
        else:
            await self.bus.execution_requested(
                ExecutionRequested(
                    execution_id=execution.id, created=execution.created, action_ref=execution.action_ref
                )
            )
