"""What a workflow gives its executions: the context it starts with (``ctx().st2``, ``ctx().parent``)
and, for each dispatch of the conductor, an ordinary child execution of the task's action."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from attune_shared.constants import WORKFLOW_RUNNER_TYPE
from attune_shared.errors import DefinitionError, ParameterError
from attune_shared.models import Action, Execution
from attune_shared.packs.refs import COMPONENT_REF_RE
from attune_shared.parameters import seal, secret_parameters, validate_parameters
from attune_shared.repos import NewExecution
from attune_shared.secrets import SecretBox
from attune_shared.workflows.conductor import Dispatch
from attune_shared.workflows.expressions import has_expressions
from attune_shared.workflows.spec import WorkflowSpec


def is_workflow(action: Action) -> bool:
    """Whether the action is a workflow (its runs are workflows, not processes)."""
    return action.runner_type == WORKFLOW_RUNNER_TYPE


def route_of(dispatch_key: str) -> int:
    """The route of a dispatch key (``task.r<route>.e…``)."""
    match = re.search(r"\.r(\d+)\.e\d+", dispatch_key)
    return int(match[1]) if match else 0


def action_refs(spec: WorkflowSpec) -> list[str]:
    """The actions a workflow names literally (those given by an expression are known only when they run)."""
    return sorted(
        {
            task.action
            for task in spec.tasks.values()
            if task.action and not has_expressions(task.action) and COMPONENT_REF_RE.match(task.action)
        }
    )


def workflow_input(action: Action, config: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow's input: the execution's parameters, and ``None`` for every parameter of the
    action that has no value (StackStorm passes them so, and ``None`` beats the workflow's default)."""
    properties = action.parameters_schema.get("properties")
    declared = dict.fromkeys(properties, None) if isinstance(properties, Mapping) else {}
    return {**declared, **config}


def workflow_context(
    execution: Execution,
    action: Action,
    workflow_execution_id: int,
    *,
    user: str,
    api_url: str,
    parent: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``ctx().st2`` and ``ctx().parent`` as StackStorm sets them (ids are strings, as there)."""
    st2 = {
        "action_execution_id": str(execution.id),
        "workflow_execution_id": str(workflow_execution_id),
        "action": execution.action_ref,
        "runner": WORKFLOW_RUNNER_TYPE,
        "pack": action.pack_ref,
        "user": user,
        "api_url": api_url,
    }
    own: dict[str, Any] = {"user": user, "pack": action.pack_ref}
    if execution.rule_ref:
        own["rule"] = {"ref": execution.rule_ref}
    if execution.trigger_ref:
        own["trigger"] = {"ref": execution.trigger_ref}
    if parent is not None:
        own.update(parent)
    return {"st2": st2, "parent": own}


def nested_context(
    child: Execution, workflow: Execution, context: Mapping[str, Any], dispatch_key: str, route: int
) -> dict[str, Any]:
    """What a workflow started as a task of another sees in ``ctx().parent`` besides its own user
    and pack: the parent execution, and the task it runs (StackStorm's ``orquesta`` context)."""
    st2 = context.get("st2") or {}
    orquesta: dict[str, Any] = {
        "workflow_execution_id": st2.get("workflow_execution_id"),
        "task_execution_id": str(child.id),
        "task_name": child.task_name,
        "task_id": child.task_name,
        "task_route": route,
        "dispatch_key": dispatch_key,
    }
    if child.task_item is not None:
        orquesta["item_id"] = child.task_item
    return {
        "parent": {"execution_id": str(workflow.id), "user": st2.get("user"), "pack": st2.get("pack")},
        "orquesta": orquesta,
    }


def child_execution(
    dispatch: Dispatch, action: Action | None, workflow: Execution, now: datetime, box: SecretBox
) -> NewExecution | str:
    """The child execution of a dispatch (its secret parameters sealed), or why it cannot be
    created (the workflow then fails with that message on the task)."""
    ref = dispatch.action
    if not isinstance(ref, str) or not COMPONENT_REF_RE.match(ref):
        return f'The action reference "{ref}" is not formatted correctly.'
    if action is None:
        return f'The action "{ref}" is not registered in the database.'
    if not action.enabled:
        return f'The action "{ref}" is disabled.'
    given = {} if dispatch.input is None else dispatch.input
    if not isinstance(given, Mapping):
        return f'ValueError: The input of action "{ref}" must be a mapping, not {type(given).__name__}.'
    try:
        config = validate_parameters(given, action.parameters_schema)
    except ParameterError as exc:
        return f'ParameterError: Invalid input for action "{ref}": {exc}'
    except DefinitionError as exc:
        return f'DefinitionError: The action "{ref}" has an invalid parameters schema: {exc}'
    config, secrets = seal(config, secret_parameters(action.parameters_schema), box)
    return NewExecution(
        action_ref=action.ref,
        action=action.id,
        config=config,
        secrets=secrets,
        parent=workflow.id,
        executor=workflow.executor,
        trace_tag=workflow.trace_tag,
        timeout_seconds=action.timeout_seconds,
        max_retries=action.max_retries,
        run_after=now + timedelta(seconds=dispatch.delay) if dispatch.delay else None,
        task_name=dispatch.task_id,
        task_item=dispatch.item,
    )
