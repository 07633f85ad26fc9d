"""An enforcement -> its execution (``requested``), or ``disabled``.

The replica that matched an event processes the enforcements it created at once
(:meth:`EnforcementProcessor.process`, called by the event stage before it publishes
``enforcement.created``), which saves a hop per execution, and creates the executions already
``running`` while it has free run slots (:meth:`Scheduler.claim`; no ``execution.requested`` and no
start statement for those). The ``enforcement.created``
consumer handles the rest: enforcements another replica could not process (an outage between the
two steps), and the maintenance loop's re-publishes. It skips, without a query, the enforcements
this replica processed lately. Two statements per batch: the enforcements, then their executions
created and the enforcements resolved together. Rules come from the cache that every
``rule.changed`` clears, actions from the ``cache_ttl`` cache, so a rule disabled (or an action
deleted) since the event matched disables the enforcement. Redelivery is harmless: an enforcement
resolves once, and has one top-level execution.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from attune_executor.context import ExecutorContext
from attune_executor.scheduler import Claim, Scheduler
from attune_executor.wakeups import wake
from attune_shared import executions
from attune_shared.bus import Delivery, EnforcementCreated, gather_bounded
from attune_shared.errors import PermanentError
from attune_shared.inquiries import is_inquiry
from attune_shared.metrics import ENFORCEMENTS
from attune_shared.models import Enforcement
from attune_shared.repos import EnforcementRepository, ExecutionRepository, NewExecution
from attune_shared.statuses import EnforcementStatus, ExecutionStatus
from attune_shared.workflows.children import is_workflow

log = logging.getLogger("attune.executor.enforcements")

#: Enforcements remembered as processed here, so their ``enforcement.created`` is acked without a
#: query (a few seconds of the highest rates; older ones are looked up as any other).
RECENT = 8192


class EnforcementProcessor:
    def __init__(self, context: ExecutorContext, scheduler: Scheduler | None = None) -> None:
        self.pool = context.pool
        #: starts the executions created here while this replica has free run slots
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

    async def process(self, pending: list[Enforcement]) -> None:
        """Resolve ``pending`` (enforcements read ``created``): executions created and announced."""
        rules = await self.catalog.rules({e.rule_ref for e in pending})
        actions = await self.catalog.actions({r.action_ref for r in rules.values() if r is not None})
        disabled: list[tuple[Enforcement, str]] = []
        accepted: list[tuple[Enforcement, NewExecution]] = []
        for e in pending:
            rule = rules.get(e.rule_ref)
            action = actions.get(rule.action_ref) if rule is not None else None
            if rule is None or rule.id != e.rule:
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
                            # a workflow has no time limit unless its action sets one, as in StackStorm
                            timeout_seconds=action.timeout_seconds
                            or (
                                None
                                if is_workflow(action) or is_inquiry(action)
                                else self.settings.default_timeout
                            ),
                            max_retries=action.max_retries,
                            trace_tag=e.trace_tag,
                            secrets=e.secrets,
                        ),
                    )
                )
        news = [new for _, new in accepted]
        claim = await self.scheduler.claim(news) if self.scheduler is not None else Claim(news)
        try:
            rows = await ExecutionRepository(self.pool).create_for_enforcements(
                claim.news,
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
        if self.scheduler is not None:
            self.scheduler.start_claimed(claim, [x for x, new in rows if new])
        requested = [(x, new) for x, new in rows if x.status is ExecutionStatus.REQUESTED]
        await executions.publish_requested_many(self.bus, [x for x, new in requested if new])
        await gather_bounded(wake(self.bus, x) for x, new in requested if not new)
