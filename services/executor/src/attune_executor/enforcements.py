"""Enforcements, and the top-level executions they make.

The replica that matched an event enforces it at once (:meth:`EnforcementProcessor.enforce`): each
enforcement is created already resolved, ``processed`` together with its execution or ``disabled``
with its reason, one statement per batch; no ``enforcement.created`` crosses the stream for them,
live followers get an ``enforcement.processed`` notice. While the replica has free run slots, the
executions of actions without policies are created already ``running`` (:meth:`Scheduler.claim`;
no ``execution.requested`` and no start statement for those).

The ``enforcement.created`` consumer (:meth:`EnforcementProcessor.process`) resolves enforcements
left pending (the maintenance loop re-publishes any it finds, such as those an earlier version wrote
before processing them): their executions created and the enforcements resolved in one statement.
It skips, without a query, the enforcements this replica processed lately. Rules come from the cache
that every ``rule.changed`` clears, actions from the ``cache_ttl`` cache, so a rule disabled (or an
action deleted) since the event matched disables the enforcement. Redelivery is harmless: an
enforcement resolves once, and has one top-level execution.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from attune_executor.context import ExecutorContext
from attune_executor.scheduler import Scheduler
from attune_executor.wakeups import wake
from attune_shared import executions
from attune_shared.bus import Delivery, EnforcementCreated, gather_bounded
from attune_shared.errors import PermanentError
from attune_shared.inquiries import is_inquiry
from attune_shared.metrics import ENFORCEMENTS
from attune_shared.models import Action, Enforcement, Rule
from attune_shared.repos import (
    Enforced,
    EnforcementRepository,
    ExecutionRepository,
    NewEnforcement,
    NewExecution,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus
from attune_shared.workflows.children import is_workflow

log = logging.getLogger("attune.executor.enforcements")

#: Enforcements remembered as processed here, so their ``enforcement.created`` is acked without a
#: query (a few seconds of the highest rates; older ones are looked up as any other).
RECENT = 8192


class EnforcementProcessor:
    def __init__(self, context: ExecutorContext, scheduler: Scheduler) -> None:
        self.pool = context.pool
        #: creates running the executions made here while this replica has free run slots
        self.scheduler = scheduler
        self.bus = context.bus
        self.catalog = context.catalog
        self.settings = context.settings
        self._processed: OrderedDict[int, None] = OrderedDict()

    async def handle(self, deliveries: list[Delivery[EnforcementCreated]]) -> None:
        deliveries = [d for d in deliveries if d.body.enforcement_id not in self._processed]
        if not deliveries:
            return
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

    async def enforce(self, matches: Sequence[tuple[NewEnforcement, str | None]]) -> list[Enforcement | None]:
        """Enforcements of events matched here (each with the reason it failed, if it did), created
        already resolved together with the executions of those processed, in one statement; then
        the executions are started or announced, and live followers told. One row per match, in
        order: ``None`` where the (rule, event) had an enforcement already (a redelivered event;
        one still pending is processed as any other)."""
        rules = await self.catalog.rules({new.rule_ref for new, _ in matches})
        actions = await self.catalog.actions({r.action_ref for r in rules.values() if r is not None})
        usables = [
            failure or _usable(new.rule_ref, new.rule, rules.get(new.rule_ref), actions)
            for new, failure in matches
        ]
        claim = await self.scheduler.claim([u.ref for u in usables if not isinstance(u, str)])
        running = iter(claim.running)
        items = [
            Enforced(new, failure_reason=usable)
            if isinstance(usable, str)
            else Enforced(new, self._execution(usable, start=claim.start if next(running) else None))
            for (new, _), usable in zip(matches, usables, strict=True)
        ]
        try:
            results = await ExecutionRepository(self.pool).create_enforced(items)
        except BaseException:
            claim.release()
            raise
        made = [r for r in results if r is not None]
        self.scheduler.start_claimed(claim, [x for _, x in made if x is not None])
        ENFORCEMENTS.labels("processed").inc(sum(1 for _, x in made if x is not None))
        ENFORCEMENTS.labels("disabled").inc(sum(1 for _, x in made if x is None))
        for (_, failure), result in zip(matches, results, strict=True):
            if result is not None and result[1] is None and failure is None:
                e = result[0]
                log.info(
                    "enforcement.disabled",
                    extra={"enforcement": e.id, "rule": e.rule_ref, "reason": e.failure_reason},
                )
        await executions.publish_requested_many(
            self.bus, [x for _, x in made if x is not None and x.status is ExecutionStatus.REQUESTED]
        )
        await self.bus.enforcements_processed([(e.id, e.created, e.rule_ref) for e, _ in made])
        existing = [new for (new, _), result in zip(matches, results, strict=True) if result is None]
        if existing:
            rows = await EnforcementRepository(self.pool).create_many(existing)  # the rows there
            pending = [e for e in rows if e.status is EnforcementStatus.CREATED]
            if pending:
                await self.process(pending)
        return [None if result is None else result[0] for result in results]

    async def process(self, pending: list[Enforcement]) -> None:
        """Resolve ``pending`` (enforcements read ``created``): executions created and announced."""
        rules = await self.catalog.rules({e.rule_ref for e in pending})
        actions = await self.catalog.actions({r.action_ref for r in rules.values() if r is not None})
        disabled: list[tuple[Enforcement, str]] = []
        accepted: list[tuple[Enforcement, Action]] = []
        for e in pending:
            usable = _usable(e.rule_ref, e.rule, rules.get(e.rule_ref), actions)
            if isinstance(usable, str):
                disabled.append((e, usable))
            else:
                accepted.append((e, usable))
        claim = await self.scheduler.claim([action.ref for _, action in accepted])
        news = [
            self._execution(action, e, start=claim.start if running else None)
            for (e, action), running in zip(accepted, claim.running, strict=True)
        ]
        try:
            rows = await ExecutionRepository(self.pool).create_for_enforcements(
                news,
                resolve=[(e.id, e.created, EnforcementStatus.PROCESSED, None) for e, _ in accepted]
                + [(e.id, e.created, EnforcementStatus.DISABLED, reason) for e, reason in disabled],
            )
        except BaseException:
            claim.release()
            raise
        for e in pending:
            self._processed[e.id] = None
        while len(self._processed) > RECENT:
            self._processed.popitem(last=False)
        ENFORCEMENTS.labels("processed").inc(len(accepted))
        ENFORCEMENTS.labels("disabled").inc(len(disabled))
        for e, reason in disabled:
            log.info(
                "enforcement.disabled", extra={"enforcement": e.id, "rule": e.rule_ref, "reason": reason}
            )
        self.scheduler.start_claimed(claim, [x for x, new in rows if new])
        requested = [(x, new) for x, new in rows if x.status is ExecutionStatus.REQUESTED]
        await executions.publish_requested_many(self.bus, [x for x, new in requested if new])
        await gather_bounded(wake(self.bus, x) for x, new in requested if not new)

    def _execution(
        self, action: Action, e: Enforcement | None = None, *, start: dict[str, Any] | None = None
    ) -> NewExecution:
        """The top-level execution of an enforcement of ``action``, created with the columns of
        ``start`` when it starts at once (:meth:`Scheduler.claim`). Without ``e`` (an enforcement
        created with it), the enforcement's columns come from the new row
        (:meth:`ExecutionRepository.create_enforced`)."""
        columns: dict[str, Any] = {
            "action_ref": action.ref,
            "action": action.id,
            # a workflow has no time limit unless its action sets one, as in StackStorm
            "timeout_seconds": action.timeout_seconds
            or (None if is_workflow(action) or is_inquiry(action) else self.settings.default_timeout),
            "max_retries": action.max_retries,
        }
        if e is not None:
            columns.update(
                config=e.config,
                created=e.created,
                enforcement=e.id,
                rule_ref=e.rule_ref,
                trigger_ref=e.trigger_ref,
                trace_tag=e.trace_tag,
                secrets=e.secrets,
            )
        return NewExecution(**columns, **(start or {}))


def _usable(
    rule_ref: str, rule_id: int | None, rule: Rule | None, actions: Mapping[str, Action | None]
) -> Action | str:
    """The action an enforcement of rule ``rule_ref`` (id ``rule_id`` when it matched) runs, or why
    the enforcement is disabled: the rule or its action is gone or disabled."""
    if rule is None or rule.id != rule_id:
        return f"rule {rule_ref} no longer exists"
    if not rule.enabled:
        return f"rule {rule.ref} is disabled"
    action = actions.get(rule.action_ref)
    if action is None:
        return f"action {rule.action_ref} does not exist"
    if not action.enabled:
        return f"action {action.ref} is disabled"
    return action
