"""``event.created`` -> rule matching -> enforcements (one ``create_many`` per fetched batch),
processed into executions at once (:mod:`attune_executor.enforcements`), then announced.

For each event: the enabled rules of its trigger (or only its ``rule_ref``), criteria evaluated,
``action_params`` rendered and validated against the action's parameter schema. A rule whose
criteria are malformed or raise on the event, or whose parameters do not render or validate, still
gets an enforcement, resolved ``disabled`` with the reason naming the field, so the failure is
never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from attune_executor.context import ExecutorContext
from attune_executor.enforcements import EnforcementProcessor
from attune_shared.bus import Delivery, EnforcementCreated, EventCreated
from attune_shared.constants import SYSTEM_USER
from attune_shared.errors import DefinitionError, ParameterError, PermanentError, TemplateRenderError
from attune_shared.logs import Throttle
from attune_shared.metrics import CRITERIA_ERRORS, ENFORCEMENTS
from attune_shared.models import Action, Enforcement, Event, Pack, Rule
from attune_shared.outage import is_unavailable
from attune_shared.parameters import revealing_parameters, seal, secret_parameters, validate_parameters
from attune_shared.repos import EnforcementRepository, EventRepository, NewEnforcement
from attune_shared.rules import evaluate_criteria, event_context, render_params, validate_criteria
from attune_shared.statuses import EnforcementStatus

log = logging.getLogger("attune.executor.events")

#: ``enforcement.failed`` is logged at most once per rule per this many seconds, with a count: a
#: rule that fails on every event (alerts lacking a field it tests) must not flood the log.
FAILURE_LOG_INTERVAL = 60.0


@dataclass
class Match:
    new: NewEnforcement
    failure: str | None


class EventProcessor:
    def __init__(self, context: ExecutorContext, enforcements: EnforcementProcessor) -> None:
        self.pool = context.pool
        self.enforcements = enforcements
        self.bus = context.bus
        self.catalog = context.catalog
        self.box = context.box
        self.datastore = context.datastore
        self._criteria_errors: dict[tuple[int, datetime], str | None] = {}
        self._revealing: dict[tuple[int, datetime], frozenset[str]] = {}
        self._failure_warnings = Throttle(log, FAILURE_LOG_INTERVAL)

    async def handle(self, deliveries: list[Delivery[EventCreated]]) -> None:
        # an event of a trigger without enabled rules can match nothing (a rule an event targets
        # belongs to its trigger too): not even loaded
        triggers = await self.catalog.rules_for_triggers({d.body.trigger_ref for d in deliveries})
        deliveries = [d for d in deliveries if triggers.get(d.body.trigger_ref)]
        if not deliveries:
            return
        events = await EventRepository(self.pool).get_keys(
            [(d.body.event_id, d.body.created) for d in deliveries]
        )
        for d in deliveries:
            if d.body.event_id not in events:
                d.error = PermanentError(
                    "event_not_found", f"event {d.body.event_id} ({d.body.created}) does not exist"
                )
        found = [events[i] for i in dict.fromkeys(d.body.event_id for d in deliveries) if i in events]
        if not found:
            return
        candidates = await self._rules(found)
        actions = await self.catalog.actions({r.action_ref for rules in candidates.values() for r in rules})
        packs = await self.catalog.packs(
            {r.pack_ref for rules in candidates.values() for r in rules}
            | {a.pack_ref for a in actions.values() if a is not None}
        )
        rules = {r.id: r for rs in candidates.values() for r in rs}.values()
        kv = await self.datastore.template_context(
            [
                *((r.action_params, r.criteria) for r in rules),
                *(a.parameters_schema for a in actions.values() if a is not None),
            ],
            user=SYSTEM_USER,
        )
        matches: list[Match] = []
        for event in found:
            for rule in candidates[event.id]:
                match = self._match(event, rule, actions.get(rule.action_ref), packs, kv)
                if match is not None:
                    matches.append(match)
        if not matches:
            return
        created = [e for e in (await self._store(matches)) if e.status is EnforcementStatus.CREATED]
        if not created:
            return
        notices = [
            EnforcementCreated(enforcement_id=e.id, created=e.created, rule_ref=e.rule_ref) for e in created
        ]
        try:
            await self.enforcements.process(created)
        except Exception as exc:
            # committed, not processed: the consumer of their `enforcement.created` processes them
            log.warning(
                "enforcement.process_deferred",
                extra={"enforcements": len(created), "error": f"{type(exc).__name__}: {exc}"},
                exc_info=not is_unavailable(exc),
            )
        else:
            # processed: no wake-up is needed (were this replica to die before acking the events,
            # their redelivery would find the enforcements resolved)
            await self.bus.enforcements_processed(notices)
            return
        outcomes = await self.bus.enforcement_created_many(notices)
        if failed := next((error for error in outcomes if error is not None), None):
            raise failed  # the batch is handled again: the rows exist, their messages are sent again

    async def _rules(self, events: list[Event]) -> dict[int, list[Rule]]:
        by_trigger = await self.catalog.rules_for_triggers({e.trigger_ref for e in events if not e.rule_ref})
        by_ref = await self.catalog.rules({e.rule_ref for e in events if e.rule_ref})
        result: dict[int, list[Rule]] = {}
        for e in events:
            if e.rule_ref:
                rule = by_ref.get(e.rule_ref)
                if rule is None or not rule.enabled:
                    log.info("event.rule_unavailable", extra={"event": e.id, "rule": e.rule_ref})
                result[e.id] = [rule] if rule is not None and rule.enabled else []
            else:
                result[e.id] = by_trigger.get(e.trigger_ref, [])
        return result

    def _match(
        self,
        event: Event,
        rule: Rule,
        action: Action | None,
        packs: Mapping[str, Pack | None],
        kv: Mapping[str, Any],
    ) -> Match | None:
        def enforcement(params: dict[str, Any]) -> NewEnforcement:
            config, secrets = seal(params, self._secret_names(rule, action), self.box)
            return NewEnforcement(
                rule=rule.id,
                rule_ref=rule.ref,
                trigger_ref=event.trigger_ref,
                event=event.id,
                event_created=event.created,
                config=config,
                condition=rule.condition,
                criteria=rule.criteria,
                trace_tag=event.trace_tag,
                secrets=secrets,
            )

        malformed = self._malformed(rule)
        if malformed is not None:
            return Match(enforcement(rule.action_params), f"rule {rule.ref} is malformed: {malformed}")
        context = {**event_context(event, rule, _config(packs, rule.pack_ref)), **kv}
        result = evaluate_criteria(rule.criteria, context, condition=rule.condition)
        if not result.matched:
            # an operator that raised or a pattern that did not render is a rule bug, not a miss:
            # recorded like the other failures (StackStorm records a failed enforcement too)
            error = next((c for c in result.criteria if c.outcome == "error"), None)
            if error is not None:
                CRITERIA_ERRORS.labels(rule.ref).inc()
                reason = (
                    f"criterion {error.key} ({error.operator}) raised on event {event.id}: {error.reason}"
                )
                return Match(enforcement(rule.action_params), f"rule {rule.ref}: {reason}")
            log.debug("rule.no_match", extra={"event": event.id, "rule": rule.ref, "reason": result.reason})
            return None
        try:
            params = render_params(rule.action_params, context)
            if action is not None:  # a missing action disables the enforcement when it is processed
                defaults = {**context, "config_context": _config(packs, action.pack_ref)}
                params = validate_parameters(params, action.parameters_schema, context=defaults)
        except TemplateRenderError as exc:
            return Match(enforcement(rule.action_params), f"template error in {exc.field}: {exc.message}")
        except ParameterError as exc:
            problems = "; ".join(f"{field}: {message}" for field, message in exc.errors)
            return Match(enforcement(params), f"invalid parameters for action {rule.action_ref}: {problems}")
        except DefinitionError as exc:
            return Match(
                enforcement(params),
                f"action {rule.action_ref} has an invalid parameters_schema: {'; '.join(exc.lines())}",
            )
        return Match(enforcement(params), None)

    def _secret_names(self, rule: Rule, action: Action | None) -> frozenset[str]:
        """Parameters stored sealed: the action's ``secret`` ones, and those the rule renders from a
        secret (``| decrypt_kv``), whatever the action says of them."""
        key = (rule.id, rule.updated)
        if key not in self._revealing:
            self._revealing[key] = revealing_parameters(rule.action_params)
        return self._revealing[key] | (secret_parameters(action.parameters_schema) if action else frozenset())

    def _malformed(self, rule: Rule) -> str | None:
        key = (rule.id, rule.updated)
        if key not in self._criteria_errors:
            errors = validate_criteria(rule.criteria)
            self._criteria_errors[key] = "; ".join(f"{f}: {m}" for f, m in errors) if errors else None
        return self._criteria_errors[key]

    async def _store(self, matches: list[Match]) -> list[Enforcement]:
        """Create the enforcements, and resolve the failed ones ``disabled`` in the same transaction."""
        failed = [m for m in matches if m.failure is not None]
        async with self.pool.acquire() as conn:
            repo = EnforcementRepository(conn)
            if not failed:
                rows = await repo.create_many([m.new for m in matches])
            else:
                async with conn.transaction():
                    rows = await repo.create_many([m.new for m in matches])
                    pending = [
                        (row, m.failure)
                        for row, m in zip(rows, matches, strict=True)
                        if m.failure is not None and row.status is EnforcementStatus.CREATED
                    ]
                    won = await repo.resolve_many(
                        [
                            (row.id, row.created, EnforcementStatus.DISABLED, failure)
                            for row, failure in pending
                        ]
                    )
                    disabled = {
                        row.id: failure for (row, failure), ok in zip(pending, won, strict=True) if ok
                    }
                rows = [
                    row.model_copy(
                        update={"status": EnforcementStatus.DISABLED, "failure_reason": disabled[row.id]}
                    )
                    if row.id in disabled
                    else row
                    for row in rows
                ]
                ENFORCEMENTS.labels("disabled").inc(len(disabled))
                for row in rows:
                    if row.id in disabled:
                        self._failure_warnings.warning(
                            row.rule_ref,
                            "enforcement.failed",
                            enforcement=row.id,
                            rule=row.rule_ref,
                            reason=row.failure_reason,
                        )
        return rows


def _config(packs: Mapping[str, Pack | None], pack_ref: str) -> dict[str, Any]:
    pack = packs.get(pack_ref)
    return pack.config if pack is not None else {}
