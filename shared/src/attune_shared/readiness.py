"""Why a registered rule cannot fire: what it names is not installed, disabled, or cannot run here.

StackStorm registers rules whose trigger or action is not installed yet; so does this project,
and the API and CLI show each rule's reasons next to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from attune_shared.models import Rule
from attune_shared.repos import ActionRepository, TriggerRepository
from attune_shared.runner_types import stackstorm_runner
from attune_shared.types import Queryable


async def cannot_fire(db: Queryable, rules: Sequence[Rule]) -> dict[str, list[str]]:
    """For each rule (by ref), the reasons it cannot fire; an empty list when it can."""
    triggers = await TriggerRepository(db).get_by_refs({r.trigger_ref for r in rules})
    actions = await ActionRepository(db).get_by_refs({r.action_ref for r in rules})
    reasons: dict[str, list[str]] = {}
    for rule in rules:
        found: list[str] = []
        trigger, action = triggers.get(rule.trigger_ref), actions.get(rule.action_ref)
        if trigger is None:
            found.append(f"trigger {rule.trigger_ref} is not installed")
        elif not trigger.enabled:
            found.append(f"trigger {rule.trigger_ref} is disabled")
        if action is None:
            found.append(f"action {rule.action_ref} is not installed")
        elif not action.enabled:
            found.append(f"action {rule.action_ref} is disabled")
        elif (spec := stackstorm_runner(action.runner_type)) is not None and not spec.available:
            found.append(f"action {rule.action_ref}: {spec.unavailable()}")
        if not rule.enabled:
            found.append("the rule is disabled")
        reasons[rule.ref] = found
    return reasons
