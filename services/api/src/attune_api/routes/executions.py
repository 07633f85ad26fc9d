"""Executions: list, get (with what caused them), run an action, cancel, re-run, history, live stream;
a workflow's children, pause and resume."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from attune_api import streams
from attune_api.audit import audited
from attune_api.auth import Principal
from attune_api.deps import BoxDep, BusDep, HubDep, Operator, PoolDep, SettingsDep, Viewer, WorkflowsDep
from attune_api.metrics import EXECUTIONS_REQUESTED
from attune_api.problems import ProblemError, invalid, not_found
from attune_api.schemas import (
    API_PREFIX,
    MAX_INT,
    BeforeId,
    IdFilter,
    IdPath,
    Limit,
    Page,
    RefFilter,
    RefLink,
    Since,
    Until,
    page,
    utc,
)
from attune_api.sse import EXECUTIONS, Item
from attune_shared import executions as lifecycle
from attune_shared.bus import Bus
from attune_shared.datastore import Datastore
from attune_shared.errors import DefinitionError, ParameterError, TemplateRenderError
from attune_shared.joins import links_of, parents_of
from attune_shared.models import Enforcement, Execution, HistoryEntry
from attune_shared.packs.config import open_config
from attune_shared.parameters import (
    immutable_parameters,
    seal,
    secret_parameters,
    unseal,
    validate_parameters,
)
from attune_shared.repos import (
    ActionRepository,
    ExecutionHistoryRepository,
    ExecutionRepository,
    NewExecution,
    PackRepository,
)
from attune_shared.secrets import SecretBox, SecretDecryptError
from attune_shared.statuses import ExecutionStatus
from attune_shared.types import Queryable
from attune_shared.workflows import WorkflowStateError

log = logging.getLogger("attune.api")

router = APIRouter(prefix=f"{API_PREFIX}/executions", tags=["executions"])


class ExecutionCreate(BaseModel):
    action_ref: str = Field(min_length=1, max_length=255, examples=["core.echo"])
    parameters: dict[str, Any] = Field(default_factory=dict, examples=[{"message": "hello"}])
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="overrides the action's timeout"
    )


class ExecutionRerun(BaseModel):
    parameters: dict[str, Any] | None = Field(default=None, description="merged over the original parameters")
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_INT)


class ExecutionParent(BaseModel):
    id: int
    action_ref: str
    status: ExecutionStatus


class ExecutionLinks(BaseModel):
    """Where an execution came from; each is null when absent or dangling (the row is gone)."""

    enforcement: Enforcement | None
    rule: RefLink | None
    trigger: RefLink | None
    parent: ExecutionParent | None


class ExecutionDetail(Execution):
    links: ExecutionLinks


class CancelOut(BaseModel):
    outcome: Literal["cancelled", "canceling"] = Field(
        description="`cancelled`: it had not started (or, a workflow, no task ran); `canceling`: it "
        "runs, its executor stops it (a workflow: its running tasks are cancelled, then it is)"
    )
    execution: Execution


class Children(BaseModel):
    """A page of a workflow's children, oldest first."""

    data: list[Execution]
    next: int | None = Field(
        description="pass as `after_id` to get the next page; null when this is the last"
    )


class ControlOut(BaseModel):
    """A workflow after a pause or resume request (``status`` is where the request left it)."""

    status: ExecutionStatus = Field(
        description="pause: `pausing` while tasks still run, then `paused`; resume: `resuming`, then `running`"
    )
    execution: Execution


StatusFilter = Annotated[
    list[ExecutionStatus] | None, Query(description="one or more statuses (repeat the parameter)")
]


async def _detail(db: Queryable, execution: Execution) -> ExecutionDetail:
    links = (await links_of(db, [execution]))[execution.id]
    parent = (await parents_of(db, [execution]))[execution.id]
    return ExecutionDetail(
        **execution.model_dump(),
        links=ExecutionLinks(
            enforcement=links.enforcement,
            rule=None if links.rule is None else RefLink(id=links.rule.id, ref=links.rule.ref),
            trigger=None if links.trigger is None else RefLink(id=links.trigger.id, ref=links.trigger.ref),
            parent=None
            if parent is None
            else ExecutionParent(id=parent.id, action_ref=parent.action_ref, status=parent.status),
        ),
    )


async def _get(db: Queryable, id: int) -> Execution:
    execution = await ExecutionRepository(db).get(id)
    if execution is None:
        raise not_found(f"execution {id}")
    return execution


async def _request(
    db: Queryable,
    bus: Bus,
    box: SecretBox,
    principal: Principal,
    action_ref: str,
    parameters: dict[str, Any],
    timeout_seconds: int | None,
) -> Execution:
    """Validate the parameters against the action, create the execution, then announce it."""
    action = await ActionRepository(db).get_by_ref(action_ref)
    if action is None:
        raise invalid("action_ref", f"action {action_ref} does not exist")
    if not action.enabled:
        raise ProblemError(409, f"action {action_ref} is disabled", slug="action-disabled")
    schema = action.parameters_schema
    pack = await PackRepository(db).get_by_ref(action.pack_ref)
    try:
        kv = await Datastore(db, box).template_context([schema], user=principal.login)
        context = {**kv, "config_context": open_config(pack, box)}
        params = validate_parameters(parameters, schema, context=context)
    except TemplateRenderError as exc:
        raise ProblemError(
            422, f"{exc.field}: {exc.message}", slug="invalid-parameters", errors=[(exc.field, exc.message)]
        ) from None
    except ParameterError as exc:
        errors = [(f"parameters.{f}" if f != "(root)" else "parameters", m) for f, m in exc.errors]
        raise ProblemError(
            422, f"{errors[0][0]}: {errors[0][1]}", slug="invalid-parameters", errors=errors
        ) from None
    except DefinitionError as exc:
        raise ProblemError(
            409, f"action {action_ref} has an invalid parameters_schema: {exc}", slug="invalid-action"
        ) from None
    config, secrets = seal(params, secret_parameters(schema), box)
    execution = await lifecycle.request(
        db,
        bus,
        NewExecution(
            action_ref=action.ref,
            action=action.id,
            config=config,
            secrets=secrets,
            executor=principal.identity_id,
            timeout_seconds=timeout_seconds,
            max_retries=action.max_retries,
        ),
    )
    EXECUTIONS_REQUESTED.inc()
    return execution


@router.get("", summary="List executions, newest first")
async def list_executions(
    _: Viewer,
    pool: PoolDep,
    status: StatusFilter = None,
    action_ref: RefFilter = None,
    rule_ref: RefFilter = None,
    trigger_ref: RefFilter = None,
    enforcement: IdFilter = None,
    parent: IdFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[Execution]:
    rows = await ExecutionRepository(pool).list(
        status=status or None,
        action_ref=action_ref,
        rule_ref=rule_ref,
        trigger_ref=trigger_ref,
        enforcement=enforcement,
        parent=parent,
        since=utc(since),
        until=utc(until),
        before_id=before_id,
        limit=limit,
    )
    return Page[Execution](**page(rows, limit))


@router.post(
    "",
    status_code=201,
    summary="Run an action: parameters are validated against its schema (422 names the failing field)",
    responses={
        422: {"description": "unknown action or invalid parameters"},
        409: {"description": "action disabled"},
    },
    openapi_extra=audited("execution.run", body=("action_ref",)),
)
async def create_execution(
    principal: Operator, pool: PoolDep, bus: BusDep, box: BoxDep, body: ExecutionCreate, response: Response
) -> Execution:
    execution = await _request(
        pool, bus, box, principal, body.action_ref, body.parameters, body.timeout_seconds
    )
    response.headers["Location"] = f"/api/v1/executions/{execution.id}"
    return execution


@router.get(
    "/stream",
    summary="Live execution status changes (SSE; id = stream sequence; Last-Event-ID resumes)",
    response_class=EventSourceResponse,
    responses=streams.SSE_RESPONSES,
)
async def stream_executions(
    _: Viewer,
    pool: PoolDep,
    hub: HubDep,
    settings: SettingsDep,
    action_ref: RefFilter = None,
    execution_id: IdFilter = None,
    last_event_id: Annotated[str | None, Header(description="resume after this stream sequence")] = None,
) -> EventSourceResponse:
    matches = streams.ref_matcher(action_ref)
    after = streams.last_event_id(last_event_id)

    def accepts(data: dict[str, Any]) -> bool:
        return matches(data.get("action_ref")) and (
            execution_id is None or data.get("execution_id") == execution_id
        )

    async def prelude() -> AsyncIterator[Item]:
        if execution_id is not None:
            current = await ExecutionRepository(pool).get(execution_id)
            if current is not None and matches(current.action_ref):
                yield Item(
                    "snapshot",
                    None,
                    {
                        "execution_id": current.id,
                        "created": current.created.isoformat(),
                        "action_ref": current.action_ref,
                        "status": current.status,
                        "updated": current.updated.isoformat(),
                    },
                )
        if after is not None:
            async for item in hub.replay_statuses(after, settings.api.sse_replay_max):
                if item.final or accepts(item.data):
                    yield item

    return await streams.response(settings, hub, EXECUTIONS, accepts, prelude, skip_through=after)


@router.get(
    "/{id}",
    summary="Get an execution with its enforcement, rule, trigger and parent",
    responses={404: {"description": "no such execution"}},
)
async def get_execution(_: Viewer, pool: PoolDep, id: IdPath) -> ExecutionDetail:
    return await _detail(pool, await _get(pool, id))


@router.post(
    "/{id}/cancel",
    summary="Cancel: not started -> cancelled now; running -> canceling, then cancelled by its executor",
    responses={404: {"description": "no such execution"}, 409: {"description": "already finished"}},
    openapi_extra=audited("execution.cancel"),
)
async def cancel_execution(_: Operator, pool: PoolDep, workflows: WorkflowsDep, id: IdPath) -> CancelOut:
    try:
        result = await workflows.cancel(id)
    except RuntimeError as exc:
        raise ProblemError(409, str(exc)) from None
    if result is None:
        raise not_found(f"execution {id}")
    if result.outcome == "finished":
        raise ProblemError(
            409,
            f"execution {id} is already {result.execution.status}; nothing to cancel",
            slug="not-cancelable",
        )
    return CancelOut(outcome=result.outcome, execution=await _get(pool, id))


@router.get(
    "/{id}/children",
    summary="The executions a workflow started (its tasks), oldest first; each has task_name and task_item",
    responses={404: {"description": "no such execution"}},
)
async def execution_children(
    _: Viewer,
    pool: PoolDep,
    id: IdPath,
    limit: Limit = 1000,
    after_id: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="cursor: only children with a larger id (`next`)")
    ] = None,
) -> Children:
    await _get(pool, id)
    rows = await ExecutionRepository(pool).children_of(id, after_id=after_id, limit=limit)
    return Children(**page(rows, limit))


async def _control(
    workflows: WorkflowsDep, pool: PoolDep, id: int, request: Literal["pause", "resume"]
) -> ControlOut:
    try:
        execution = await (workflows.pause(id) if request == "pause" else workflows.resume(id))
    except WorkflowStateError as exc:
        raise ProblemError(409, str(exc), slug="not-a-running-workflow") from None
    if execution is None:
        raise not_found(f"execution {id}")
    return ControlOut(status=execution.status, execution=await _get(pool, id))


@router.post(
    "/{id}/pause",
    summary="Pause a workflow: running tasks finish, no new task starts (nested workflows pause too)",
    responses={404: {"description": "no such execution"}, 409: {"description": "not a running workflow"}},
    openapi_extra=audited("execution.pause"),
)
async def pause_execution(_: Operator, pool: PoolDep, workflows: WorkflowsDep, id: IdPath) -> ControlOut:
    return await _control(workflows, pool, id, "pause")


@router.post(
    "/{id}/resume",
    summary="Resume a paused workflow (and its paused nested workflows)",
    responses={404: {"description": "no such execution"}, 409: {"description": "not a paused workflow"}},
    openapi_extra=audited("execution.resume"),
)
async def resume_execution(_: Operator, pool: PoolDep, workflows: WorkflowsDep, id: IdPath) -> ControlOut:
    return await _control(workflows, pool, id, "resume")


@router.post(
    "/{id}/rerun",
    status_code=201,
    summary="Run the same action again with the same parameters (optionally some changed)",
    responses={404: {"description": "no such execution"}},
    openapi_extra=audited("execution.rerun"),
)
async def rerun_execution(
    principal: Operator,
    pool: PoolDep,
    bus: BusDep,
    box: BoxDep,
    id: IdPath,
    response: Response,
    body: ExecutionRerun | None = None,
) -> Execution:
    original = await _get(pool, id)
    try:
        given = unseal(original.config, original.secrets, box)
    except SecretDecryptError as exc:
        raise ProblemError(409, f"execution {id}: {exc}", slug="undecryptable") from None
    action = await ActionRepository(pool).get_by_ref(original.action_ref)
    fixed = immutable_parameters(action.parameters_schema) if action is not None else set()
    given = {k: v for k, v in given.items() if k not in fixed}  # immutable ones are computed again
    parameters = given | dict((body.parameters if body else None) or {})
    timeout = (body.timeout_seconds if body else None) or original.timeout_seconds
    execution = await _request(pool, bus, box, principal, original.action_ref, parameters, timeout)
    response.headers["Location"] = f"/api/v1/executions/{execution.id}"
    return execution


@router.get(
    "/{id}/history",
    summary="Field-level changes of an execution, newest first",
    responses={404: {"description": "no such execution and no history"}},
)
async def execution_history(
    _: Viewer, pool: PoolDep, id: IdPath, limit: Limit = 100, before_id: BeforeId = None
) -> Page[HistoryEntry]:
    rows = await ExecutionHistoryRepository(pool).for_entity(id, before_id=before_id, limit=limit)
    if not rows and before_id is None and await ExecutionRepository(pool).get(id) is None:
        raise not_found(f"execution {id}")
    return Page[HistoryEntry](**page(rows, limit))
