"""StackStorm's completion triggers: ``core.st2.generic.actiontrigger`` for every execution that
ends, ``core.st2.generic.notifytrigger`` for actions that declare ``notify``.

Both are ordinary trigger messages on ``<p>.trigger.<ref>``: the sensor stores them as events and
rules react to them like to any other. Nothing is published for a trigger no enabled rule uses
(one cached lookup), so executions cost nothing extra while nobody listens.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from attune_shared.bus import Bus
from attune_shared.errors import RetryableError, TemplateRenderError
from attune_shared.masking import mask_secrets
from attune_shared.models import Action, Execution, Rule
from attune_shared.repos import ActionRepository, RuleRepository
from attune_shared.rules.templating import render_value
from attune_shared.statuses import ExecutionStatus
from attune_shared.types import Queryable

log = logging.getLogger("attune.completion")

ACTION_TRIGGER: Final = "core.st2.generic.actiontrigger"
NOTIFY_TRIGGER: Final = "core.st2.generic.notifytrigger"
#: The event's ``source_ref``.
SOURCE: Final = "executor"

_S = ExecutionStatus
#: This project's terminal statuses in StackStorm's words (what rules written for StackStorm compare).
STACKSTORM_STATUS: Final = {
    _S.COMPLETED: "succeeded",
    _S.FAILED: "failed",
    _S.TIMEOUT: "timeout",
    _S.CANCELLED: "canceled",
    _S.ABANDONED: "abandoned",
}
_FAILED: Final = frozenset({_S.FAILED, _S.TIMEOUT, _S.ABANDONED})


class RuleLookup(Protocol):
    async def rules_for_triggers(self, trigger_refs: Collection[str]) -> dict[str, list[Rule]]: ...


def action_trigger_payload(
    execution: Execution, action: Action | None, status: ExecutionStatus, result: Any
) -> dict[str, Any]:
    """The payload of ``core.st2.generic.actiontrigger``, as StackStorm builds it: the parameters
    with secrets masked, the result as it is."""
    return {
        "execution_id": str(execution.id),
        "status": STACKSTORM_STATUS.get(status, str(status)),
        "start_timestamp": str(execution.started_at or execution.created),
        "action_name": execution.action_ref,
        "action_ref": execution.action_ref,
        "runner_ref": action.runner_type if action is not None else None,
        "parameters": mask_secrets(execution.config, action.parameters_schema)
        if action
        else execution.config,
        "result": result,
    }


def notify_payloads(
    execution: Execution, action: Action, status: ExecutionStatus, result: Any, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One ``core.st2.generic.notifytrigger`` payload per route of each ``notify`` section that
    applies: ``on-complete`` always, ``on-success`` when it succeeded, ``on-failure`` when it failed,
    timed out or was abandoned. ``message`` and ``data`` are Jinja over ``action_parameters``,
    ``action_results`` and ``action_context``; a template that fails is sent as written."""
    sections = [("on-complete", "completed.")]
    if status is _S.COMPLETED:
        sections.append(("on-success", "succeeded."))
    elif status in _FAILED:
        sections.append(("on-failure", "failed."))
    context = {
        "action_parameters": execution.config,
        "action_results": result,
        "action_context": {"execution_id": execution.id, "rule_ref": execution.rule_ref},
    }
    base = {
        "execution_id": str(execution.id),
        "status": STACKSTORM_STATUS.get(status, str(status)),
        "start_timestamp": _iso(execution.started_at or execution.created),
        "end_timestamp": _iso(now or datetime.now(UTC)),
        "action_ref": execution.action_ref,
        "runner_ref": action.runner_type,
    }
    payloads = []
    for key, suffix in sections:
        section = action.notify.get(key)
        if not isinstance(section, Mapping):
            continue
        routes = section.get("routes") or section.get("channels") or []
        message = _render(section.get("message") or f"Action {execution.action_ref} {suffix}", context)
        data = _render(section.get("data") or {}, context)
        payloads += [{**base, "message": message, "data": data, "route": r, "channel": r} for r in routes]
    return payloads


class DatabaseRules:
    """A :class:`RuleLookup` reading the database each time (for the API's occasional ends)."""

    def __init__(self, db: Queryable) -> None:
        self.db = db

    async def rules_for_triggers(self, trigger_refs: Collection[str]) -> dict[str, list[Rule]]:
        grouped: dict[str, list[Rule]] = {ref: [] for ref in trigger_refs}
        for rule in await RuleRepository(self.db).enabled_for_triggers(list(trigger_refs)):
            grouped[rule.trigger_ref].append(rule)
        return grouped


class CompletionTriggers:
    """Publishes the completion triggers of executions that ended, when a rule listens to them."""

    def __init__(self, bus: Bus, rules: RuleLookup) -> None:
        self.bus = bus
        self.rules = rules

    async def ended(
        self, execution: Execution, action: Action | None, status: ExecutionStatus, result: Any
    ) -> None:
        """Call once an execution's terminal status is committed. A publish NATS refuses is logged,
        not raised: the execution's end stands."""
        wanted = [ACTION_TRIGGER] + ([NOTIFY_TRIGGER] if action is not None and action.notify else [])
        listened = await self.rules.rules_for_triggers(wanted)
        if listened.get(ACTION_TRIGGER):
            await self._publish(
                ACTION_TRIGGER,
                action_trigger_payload(execution, action, status, result),
                f"action:{execution.id}",
                execution,
            )
        if action is not None and listened.get(NOTIFY_TRIGGER):
            for i, payload in enumerate(notify_payloads(execution, action, status, result)):
                await self._publish(NOTIFY_TRIGGER, payload, f"notify:{execution.id}:{i}", execution)

    async def _publish(
        self, trigger_ref: str, payload: dict[str, Any], msg_id: str, execution: Execution
    ) -> None:
        try:
            await self.bus.trigger(
                trigger_ref, payload, msg_id=msg_id, trace_tag=execution.trace_tag, source=SOURCE
            )
        except RetryableError as exc:
            log.warning(
                "completion.not_published",
                extra={"execution": execution.id, "trigger": trigger_ref, "error": str(exc)},
            )


async def ended_outside_executor(
    db: Queryable, bus: Bus, execution: Execution, status: ExecutionStatus, result: Any
) -> None:
    """The completion triggers of an execution ended by the API (cancelled before it started)."""
    action = await ActionRepository(db).get_by_ref(execution.action_ref)
    await CompletionTriggers(bus, DatabaseRules(db)).ended(execution, action, status, result)


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    try:
        return render_value(value, context, field="notify")
    except TemplateRenderError:
        return value


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()
