"""Inquiries: an execution of ``core.ask`` (runner ``inquirer``) waits ``pending`` for a person.

- :func:`ask` (the executor, when it would start the action): the inquiry row and the execution's
  ``running -> pending`` in one transaction, then the ``core.st2.generic.inquiry`` trigger
  (``{id, route}``) so a rule can notify someone, and the parent workflow hears of it (it pauses,
  other branches go on).
- :func:`respond` (the API): checks, in StackStorm's order, that the inquiry is still pending,
  that the person may answer it (``users`` / ``roles``), and that the response satisfies its JSON
  Schema; then the inquiry ``responded`` and the execution ``completed`` with StackStorm's result
  (``{schema, roles, users, route, ttl, response}``) in one transaction; then the workflow resumes
  and goes on with ``task(ask).result.response``.
- :func:`expire` (the executors' maintenance leader): past ``ttl`` minutes, the inquiry ``timeout``
  and the execution ``timeout`` (so ``when: <% failed() %>`` takes over in a workflow).

Everything is in the database: inquiries survive restarts of every service, and answering while
no executor runs resumes the workflow (its next tasks wait in the stream for an executor).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg

from attune_shared import executions
from attune_shared.bus import Bus
from attune_shared.errors import AttuneError, ParameterError, RetryableError
from attune_shared.models import Action, Execution, Inquiry
from attune_shared.parameters import unseal, validate_parameters
from attune_shared.repos import ExecutionRepository, InquiryRepository, StatusChange
from attune_shared.runner_types import INQUIRY_DEFAULT_SCHEMA
from attune_shared.secrets import SecretBox
from attune_shared.statuses import ExecutionStatus, InquiryStatus

log = logging.getLogger("attune.inquiries")

#: The runner of ``core.ask``.
RUNNER: Final = "inquirer"
#: The trigger of a new inquiry (StackStorm's name).
INQUIRY_TRIGGER: Final = "core.st2.generic.inquiry"
#: Minutes to answer when the action gives no ttl.
DEFAULT_TTL: Final = 1440

S = ExecutionStatus

#: ``child_changed(execution, status, result)``: tell an execution's workflow its status changed.
ChildChanged = Callable[[Execution, ExecutionStatus, Any], Awaitable[None]]
#: ``resume(execution_id)``: resume a paused workflow.
Resume = Callable[[int], Awaitable[object]]


class InquiryError(AttuneError):
    """A response refused; ``status`` is the HTTP status the API answers with."""

    status = 400


class InquiryNotFound(InquiryError):
    status = 404


class InquiryForbidden(InquiryError):
    status = 403


class InquiryClosed(InquiryError):
    """Already answered, timed out or cancelled."""

    status = 409


class InquiryInvalid(InquiryError):
    """The response does not satisfy the inquiry's schema; ``errors`` lists ``(field, message)``."""

    status = 422

    def __init__(self, message: str, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.errors = list(errors)


def is_inquiry(action: Action) -> bool:
    """Whether ``action`` asks a person (StackStorm's ``inquirer`` runner)."""
    return action.runner_type == RUNNER


def response_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema a response is checked against: StackStorm's draft-4 habit of ``required: true``
    on a property becomes the object's ``required`` list (so ``core.ask``'s default schema works)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return dict(schema)
    required = list(schema.get("required") or []) if isinstance(schema.get("required"), list) else []
    cleaned: dict[str, Any] = {}
    for name, spec in properties.items():
        if isinstance(spec, Mapping) and isinstance(spec.get("required"), bool):
            if spec["required"] and name not in required:
                required.append(name)
            spec = {k: v for k, v in spec.items() if k != "required"}
        cleaned[name] = spec
    fixed = {**schema, "properties": cleaned}
    if required:
        fixed["required"] = required
    return fixed


def result_of(inquiry: Inquiry, response: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The execution's result, as StackStorm's inquirer gives it (with ``response`` once answered)."""
    result: dict[str, Any] = {
        "schema": inquiry.response_schema,
        "roles": inquiry.roles,
        "users": inquiry.users,
        "route": inquiry.route,
        "ttl": inquiry.ttl,
    }
    if response is not None:
        result["response"] = dict(response)
    return result


async def ask(
    pool: asyncpg.Pool, bus: Bus, box: SecretBox, execution: Execution, child_changed: ChildChanged
) -> Inquiry | None:
    """Open the inquiry of a ``running`` ``core.ask`` execution and make it ``pending``. ``None``
    when the execution moved on meanwhile (cancelled) — then nothing is created."""
    params = unseal(execution.config, execution.secrets, box)
    ttl = int(params.get("ttl", DEFAULT_TTL) or 0)
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        inquiry = await InquiryRepository(conn).create(
            {
                "id": execution.id,
                "execution_created": execution.created,
                "action_ref": execution.action_ref,
                "parent": execution.parent,
                "route": str(params.get("route") or ""),
                "response_schema": params.get("schema") or INQUIRY_DEFAULT_SCHEMA,
                "roles": [str(r) for r in params.get("roles") or []],
                "users": [str(u) for u in params.get("users") or []],
                "ttl": ttl,
                "timeout_at": now + timedelta(minutes=ttl) if ttl > 0 else None,
            }
        )
        [previous] = await ExecutionRepository(conn).update_status_many(
            [
                StatusChange(
                    execution.id, execution.created, (S.RUNNING,), S.PENDING, {"result": result_of(inquiry)}
                )
            ]
        )
        if previous is None:
            await InquiryRepository(conn).close(inquiry.id, InquiryStatus.CANCELLED)
            return None
    await executions.announce(bus, execution, (previous, S.PENDING))
    try:
        await bus.trigger(
            INQUIRY_TRIGGER,
            {"id": str(inquiry.id), "route": inquiry.route},
            msg_id=f"inquiry:{inquiry.id}",
            trace_tag=execution.trace_tag,
            source="executor",
        )
    except RetryableError as exc:
        log.warning("inquiry.trigger_not_published", extra={"inquiry": inquiry.id, "error": str(exc)})
    log.info("inquiry.pending", extra={"inquiry": inquiry.id, "route": inquiry.route, "ttl": ttl})
    await child_changed(execution, S.PENDING, None)
    return inquiry


def may_respond(inquiry: Inquiry, login: str, role_allows: Callable[[str], bool]) -> bool:
    """Whether ``login`` (whose role allows what ``role_allows`` says) may answer. As StackStorm:
    an inquiry naming ``users`` is for them, one naming ``roles`` for a role that allows one of
    them (both, when it names both). One naming neither is for any ``operator`` (StackStorm lets
    anyone answer it; here viewers only read)."""
    if inquiry.users and login not in inquiry.users:
        return False
    if inquiry.roles:
        return any(role_allows(r) for r in inquiry.roles)
    return bool(inquiry.users) or role_allows("operator")


async def respond(
    pool: asyncpg.Pool,
    bus: Bus,
    inquiry_id: int,
    response: Mapping[str, Any],
    *,
    login: str,
    role_allows: Callable[[str], bool],
    child_changed: ChildChanged,
    resume: Resume,
) -> Inquiry:
    """Answer an inquiry (see the module docstring for the checks and what follows).

    :raises InquiryNotFound, InquiryClosed, InquiryForbidden, InquiryInvalid: the refusal.
    """
    async with pool.acquire() as conn, conn.transaction():
        repo = InquiryRepository(conn)
        inquiry = await repo.get(inquiry_id, lock=True)
        if inquiry is None:
            raise InquiryNotFound(f"inquiry {inquiry_id} does not exist")
        if inquiry.status is not InquiryStatus.PENDING:
            raise InquiryClosed(_closed(inquiry))
        if not may_respond(inquiry, login, role_allows):
            raise InquiryForbidden(
                f'User "{login}" does not have permission to respond to inquiry "{inquiry_id}".'
            )
        try:
            validate_parameters(response, response_schema(inquiry.response_schema))
        except ParameterError as exc:
            errors = [(f"response.{f}" if f != "(root)" else "response", m) for f, m in exc.errors]
            raise InquiryInvalid(
                f'Response for inquiry "{inquiry_id}" did not pass schema validation: {errors[0][0]}: {errors[0][1]}',
                errors,
            ) from None
        now = datetime.now(UTC)
        await repo.close(
            inquiry.id, InquiryStatus.RESPONDED, response=dict(response), responded_by=login, responded_at=now
        )
        result = result_of(inquiry, response)
        [previous] = await ExecutionRepository(conn).update_status_many(
            [
                StatusChange(
                    inquiry.id, inquiry.execution_created, (S.PENDING,), S.COMPLETED, {"result": result}
                )
            ]
        )
        if previous is None:  # its execution was cancelled or timed out meanwhile
            raise InquiryClosed(f'Inquiry "{inquiry_id}" is no longer pending.')
    execution = await ExecutionRepository(pool).get(inquiry.id, inquiry.execution_created)
    assert execution is not None
    await executions.announce(bus, execution, (previous, S.COMPLETED))
    log.info("inquiry.responded", extra={"inquiry": inquiry.id, "by": login})
    await _continue_workflow(execution, S.COMPLETED, result, child_changed, resume)
    answered = await InquiryRepository(pool).get(inquiry.id)
    assert answered is not None
    return answered


async def expire(
    pool: asyncpg.Pool,
    end: Callable[[Execution, ExecutionStatus, dict[str, Any]], Awaitable[bool]],
    resume: Resume,
    *,
    limit: int = 500,
) -> int:
    """Time out the pending inquiries past their ``timeout_at`` (their executions end ``timeout``
    through ``end``, which tells their workflows); returns how many."""
    timed_out = 0
    for inquiry in await InquiryRepository(pool).due(limit=limit):
        execution = await ExecutionRepository(pool).get(inquiry.id, inquiry.execution_created)
        if execution is not None and execution.status is S.PENDING:
            error = f"inquiry {inquiry.id} was not answered within {inquiry.ttl} minutes"
            if not await end(execution, S.TIMEOUT, {**result_of(inquiry), "error": error}):
                continue  # answered or cancelled meanwhile
            timed_out += 1
            log.warning("inquiry.timeout", extra={"inquiry": inquiry.id, "ttl": inquiry.ttl})
            if execution.parent is not None:
                await _resume_quietly(resume, execution.parent)
        await InquiryRepository(pool).close(inquiry.id, InquiryStatus.TIMEOUT)
    return timed_out


async def _continue_workflow(
    execution: Execution, status: ExecutionStatus, result: Any, child_changed: ChildChanged, resume: Resume
) -> None:
    """The answered (or timed-out) task's workflow: told first, then resumed if it paused for it."""
    if execution.parent is None:
        return
    await child_changed(execution, status, result)
    await _resume_quietly(resume, execution.parent)


async def _resume_quietly(resume: Resume, workflow: int) -> None:
    try:
        await resume(workflow)
    except AttuneError:  # not paused (another branch runs), or already over: nothing to resume
        pass


def _closed(inquiry: Inquiry) -> str:
    if inquiry.status is InquiryStatus.TIMEOUT:
        return f'Inquiry "{inquiry.id}" timed out and cannot be responded to.'
    if inquiry.status is InquiryStatus.CANCELLED:
        return f'Inquiry "{inquiry.id}" was cancelled.'
    return f'Inquiry "{inquiry.id}" has already been responded to.'
