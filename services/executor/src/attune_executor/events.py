"""``event.created`` -> rule matching -> enforcements, created resolved with their executions in
one statement per fetched batch (:meth:`attune_executor.enforcements.EnforcementProcessor.enforce`).

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
from attune_shared.bus import Delivery, EventCreated
from attune_shared.constants import SYSTEM_USER
from attune_shared.errors import DefinitionError, ParameterError, PermanentError, TemplateRenderError
from attune_shared.logs import Throttle
from attune_shared.metrics import CRITERIA_ERRORS
from attune_shared.models import Action, Event, Pack, Rule
from attune_shared.parameters import revealing_parameters, seal, secret_parameters, validate_parameters
from attune_shared.repos import EventRepository, NewEnforcement
from attune_shared.rules import evaluate_criteria, event_context, render_params, validate_criteria

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
        #: the parameters stored sealed, by rule and action version
        self._secret: dict[tuple[int, datetime, int | None, datetime | None], frozenset[str]] = {}
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
        made = await self.enforcements.enforce([(m.new, m.failure) for m in matches])
        for m, e in zip(matches, made, strict=True):
            if e is not None and m.failure is not None:
                self._failure_warnings.warning(
                    e.rule_ref, "enforcement.failed", enforcement=e.id, rule=e.rule_ref, reason=m.failure
                )

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
        key = (rule.id, rule.updated, action.id if action else None, action.updated if action else None)
        names = self._secret.get(key)
        if names is None:
            names = self._secret[key] = revealing_parameters(rule.action_params) | (
                secret_parameters(action.parameters_schema) if action else frozenset()
            )
        return names

    def _malformed(self, rule: Rule) -> str | None:
        key = (rule.id, rule.updated)
        if key not in self._criteria_errors:
            errors = validate_criteria(rule.criteria)
            self._criteria_errors[key] = "; ".join(f"{f}: {m}" for f, m in errors) if errors else None
        return self._criteria_errors[key]


def _config(packs: Mapping[str, Pack | None], pack_ref: str) -> dict[str, Any]:
    pack = packs.get(pack_ref)
    return pack.config if pack is not None else {}
