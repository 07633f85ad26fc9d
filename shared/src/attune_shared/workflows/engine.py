"""The workflow engine: Orquesta workflows run on the pipeline's tables and bus.

A workflow execution is an ordinary execution of a workflow action (``runner_type: orquesta``)
that holds no process: the executor that schedules it calls :meth:`WorkflowEngine.start` and goes
on. Its tasks are child executions (``parent`` = the workflow's execution, ``task_name``,
``task_item``) run by any executor replica like every other execution.

Every change to a workflow happens in one transaction holding its ``workflow_execution`` row lock:
the conductor's step, the state it returns, the child executions it asks for and their
``workflow_task_dispatch`` rows (one per dispatch key, ever). After the commit the children are
published (``execution.requested``), the workflow's execution follows the workflow's status, and a
finished workflow is ended through ``end`` (the executor's Finisher, whose "ended" hook advances
the parent workflow: nested workflows, to any depth). Cancel, pause and resume cascade to the
children after the commit. Nothing is held while another workflow is locked, so parents and
children never wait for each other.

What a crash can interrupt is repaired by :meth:`WorkflowEngine.reconcile` (the executors'
maintenance leader): children whose end the conductor never heard of, workflows whose execution
does not show the workflow's status, workflows that never started, workflows past their timeout.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import asyncpg
import pydantic_core

from attune_shared import executions
from attune_shared.bus import Bus, Change
from attune_shared.constants import SYSTEM_USER
from attune_shared.datastore import Datastore
from attune_shared.executions import CancelResult, cancelled_result
from attune_shared.models import Action, Execution, WorkflowExecution
from attune_shared.outage import is_unavailable
from attune_shared.parameters import unseal
from attune_shared.repos import (
    ActionRepository,
    ExecutionRepository,
    IdentityRepository,
    NewExecution,
    StatusChange,
    WorkflowDefinitionRepository,
    WorkflowExecutionRepository,
    WorkflowTaskDispatchRepository,
)
from attune_shared.secrets import SecretBox
from attune_shared.statuses import ACTIVE_STATUSES, PRE_RUN_STATUSES, ExecutionStatus
from attune_shared.workflows import conductor
from attune_shared.workflows.children import (
    action_refs,
    child_execution,
    nested_context,
    route_of,
    workflow_context,
    workflow_input,
)
from attune_shared.workflows.conductor import Dispatch, Runtime, Step
from attune_shared.workflows.errors import KeyNeeded, ResultsNeeded, WorkflowStateError
from attune_shared.workflows.keys import StepKeys
from attune_shared.workflows.spec import WorkflowSpec

log = logging.getLogger("attune.workflows")
#: What the state column holds when the state is stored encrypted (``workflow_execution.secrets``).
_SEALED_STATE: Final = {"sealed": True}

S = ExecutionStatus

#: ``end(execution, status, result) -> won``: records a workflow's terminal status.
EndExecution = Callable[[Execution, ExecutionStatus, dict[str, Any]], Awaitable[bool]]
Operation = Callable[[Mapping[str, Any], Runtime], Step]
Cascade = Literal["cancel", "pause", "resume"]

#: Statuses a workflow's execution may be in while its workflow is not over.
_ACTIVE: Final = tuple(sorted(ACTIVE_STATUSES))
#: How often one step may ask for what it reads (children's results, all named at once; datastore
#: keys, one at a time) before the engine gives up on it.
_MAX_ROUNDS: Final = 100
#: Parsed specs kept in memory (by digest).
_MAX_SPECS: Final = 256


@dataclass
class _Report:
    child: Execution
    status: ExecutionStatus
    result: Any
    done: asyncio.Future[None]


@dataclass
class _Effects:
    """What follows the commit of a step."""

    workflow: WorkflowExecution | None
    execution: Execution
    children: list[Execution] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    ended: tuple[ExecutionStatus, dict[str, Any]] | None = None
    cascade: Cascade | None = None
    open_children: list[Execution] = field(default_factory=list)


class _Session:
    """One workflow in a transaction holding its row lock: conductor steps, then their consequences."""

    def __init__(
        self,
        engine: WorkflowEngine,
        conn: asyncpg.Connection,
        workflow: WorkflowExecution,
        execution: Execution,
        spec: WorkflowSpec,
        *,
        sealed: bool = False,
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.workflow = workflow
        self.execution = execution
        self.spec = spec
        #: the state holds secrets: it is stored encrypted
        self.sealed = sealed or workflow.secrets is not None
        self.state: dict[str, Any] = engine.open_state(workflow)
        self.status = workflow.status
        self.result = workflow.result
        self.results: dict[str, Any] = {}
        self.keys = StepKeys(Datastore(conn, engine.box))
        self.dispatches: list[Dispatch] = []
        self.reported: dict[str, ExecutionStatus] = {}
        self.cascade: Cascade | None = None

    @property
    def over(self) -> bool:
        return self.status.is_terminal

    async def step(self, operation: Operation, *, strict: bool = False) -> None:
        """Run one conductor call, loading the children's results it asks for. A failure of the
        conductor itself fails the workflow (never a crash, never a stuck ``running``), unless
        ``strict`` (a request by a person, who is told why it was refused)."""
        for _ in range(_MAX_ROUNDS):
            try:
                step = operation(self.state, Runtime(self.results, self.keys))
            except KeyNeeded as need:
                await self.keys.load(need)
                continue
            except ResultsNeeded as need:
                loaded = await WorkflowTaskDispatchRepository(self.conn).results(self.workflow.id, need.keys)
                self.results.update(loaded)
                continue
            except WorkflowStateError:
                raise
            except Exception as exc:
                if strict:
                    raise
                log.exception("workflow.step_failed", extra={"execution": self.execution.id})
                self.fail(f"{type(exc).__name__}: {exc}")
                return
            self.state, self.status, self.result = step.state, step.status, step.result
            self.dispatches.extend(step.dispatches)
            return
        self.fail(f"a step read more than {_MAX_ROUNDS} children's results and datastore keys")

    def fail(self, message: str) -> None:
        errors = [*self.state.get("errors", []), {"type": "error", "message": message}]
        self.state = {**self.state, "status": "failed", "errors": errors}
        self.status = S.FAILED
        self.result = {"output": self.state.get("output") or None, "errors": errors}

    async def dispatch(self) -> list[Execution]:
        """Create the children the steps asked for, with their dispatch rows; a dispatch that cannot
        become an execution (unknown action, invalid input) fails the workflow naming its task."""
        created: list[Execution] = []
        now = datetime.now(UTC)
        while self.dispatches:
            batch, self.dispatches = self.dispatches, []
            # read on this transaction's connection: waiting for another one while holding it
            # could exhaust the pool
            actions = await ActionRepository(self.conn).get_by_refs(
                {d.action for d in batch if isinstance(d.action, str)}
            )
            planned: list[tuple[Dispatch, NewExecution]] = []
            refused: list[tuple[Dispatch, str]] = []
            for d in batch:
                action = actions.get(d.action) if isinstance(d.action, str) else None
                new = child_execution(d, action, self.execution, now, self.engine.box)
                if isinstance(new, str):
                    refused.append((d, new))
                else:
                    planned.append((d, new))
            created += await WorkflowTaskDispatchRepository(self.conn).create_children(
                self.workflow.id, [(d.key, new) for d, new in planned]
            )
            for d, message in refused:
                log.warning(
                    "workflow.dispatch_refused",
                    extra={"execution": self.execution.id, "task": d.task_id, "error": message},
                )
                await self.step(functools.partial(_dispatch_failed, self.spec, d.key, message))
        return created

    async def commit(self) -> _Effects:
        """Write the state and its consequences (still in the transaction)."""
        effects = _Effects(self.workflow, self.execution, children=await self.dispatch())
        state, secrets = self.state, None
        if self.sealed:
            state, secrets = (
                _SEALED_STATE,
                self.engine.box.encrypt(pydantic_core.to_json(self.state).decode()),
            )
        await WorkflowExecutionRepository(self.conn).save(
            self.workflow.id, self.status, state, self.result, self.reported, secrets=secrets
        )
        x = self.execution
        if self.status.is_terminal:
            if not self.workflow.status.is_terminal:  # it just ended
                effects.ended = (self.status, self.result or {"output": None})
        elif self.status is not x.status:
            effects.changes = await _follow_status(self.conn, x, self.status)
            effects.execution = x.model_copy(update={"status": self.status})
        effects.cascade = self.cascade
        if self.cascade is not None:
            effects.open_children = await WorkflowTaskDispatchRepository(self.conn).open_children(
                self.workflow.id
            )
        return effects


async def _unchanged(_: _Session) -> None:
    """No step: only what a commit does (the execution follows the workflow's status)."""


def _dispatch_failed(
    spec: WorkflowSpec, key: str, message: str, state: Mapping[str, Any], _: Runtime
) -> Step:
    return conductor.dispatch_failed(spec, state, key, message)


def _child_changed(
    spec: WorkflowSpec,
    key: str,
    status: ExecutionStatus,
    result: Any,
    state: Mapping[str, Any],
    runtime: Runtime,
) -> Step:
    return conductor.child_changed(spec, state, key, status, result, runtime=runtime)


async def _follow_status(conn: asyncpg.Connection, x: Execution, new: ExecutionStatus) -> list[Change]:
    """The workflow's execution takes a (non-terminal) status of its workflow, in the transaction
    that decided it, so two decisions cannot reach the execution in the wrong order."""
    [old] = await ExecutionRepository(conn).update_status_many(
        [StatusChange(x.id, x.created, tuple(s for s in _ACTIVE if s != new), new)]
    )
    return [] if old is None else [(old, new)]


class WorkflowEngine:
    """Starts, advances, pauses, resumes, cancels and repairs workflows (module docstring).

    ``end`` records a workflow's terminal status (the executor passes its Finisher, so ending a
    workflow is ending any execution; by default a compare-and-set followed by advancing the
    parent workflow). ``box`` opens the workflow's secret parameters and seals its children's.
    ``st2kv()`` reads the datastore. Everything a step reads, it reads on its transaction's
    connection.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        box: SecretBox,
        *,
        api_url: str,
        end: EndExecution | None = None,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.box = box
        self.api_url = api_url
        self.end: EndExecution = end or self._end_directly
        self._specs: dict[str, WorkflowSpec] = {}
        self._reports: dict[int, list[_Report]] = {}
        self._draining: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- start ------------------------------------------------------------------------------------

    async def start(self, execution: Execution, action: Action) -> None:
        """Start the workflow of ``execution`` (``running``, an execution of the workflow ``action``).

        Idempotent: an execution whose workflow exists, or that is no longer running, is left
        alone (a ``canceling`` one ends ``cancelled``). Errors are logged, not raised: the
        maintenance leader starts a workflow left unstarted (see :meth:`reconcile`)."""
        try:
            effects = await self._start(execution, action)
        except Exception as exc:
            log.warning(
                "workflow.start_failed",
                extra={"execution": execution.id, "error": f"{type(exc).__name__}: {exc}"},
                exc_info=not is_unavailable(exc),
            )
            return
        if effects is not None:
            await self._follow(effects)

    async def _start(self, execution: Execution, action: Action) -> _Effects | None:
        async with self.pool.acquire() as conn, conn.transaction():
            x = await WorkflowExecutionRepository(conn).lock_execution(execution.id, execution.created)
            if x is None or x.workflow_def is not None:
                return None
            if x.status is S.CANCELING:  # cancelled before its workflow started
                return _Effects(None, x, ended=(S.CANCELLED, cancelled_result()))
            if x.status is not S.RUNNING:
                return None
            definition = await WorkflowDefinitionRepository(conn).get_by_ref(action.ref)
            if definition is None or definition.definition is None:
                errors = definition.errors if definition is not None else []
                if not errors:
                    message = (
                        f'The workflow definition of action "{action.ref}" is not registered; '
                        "register its pack again."
                    )
                    errors = [{"type": "error", "message": message}]
                return _Effects(None, x, ended=(S.FAILED, {"errors": errors, "output": None}))
            spec = self._spec(definition.digest, definition.definition)
            workflows = WorkflowExecutionRepository(conn)
            id = await workflows.reserve_id()
            context = workflow_context(
                x,
                action,
                id,
                user=await self._user(conn, x),
                api_url=self.api_url,
                parent=await self._parent_context(conn, x),
            )
            schemas = {
                ref: a.parameters_schema
                for ref, a in (await ActionRepository(conn).get_by_refs(action_refs(spec))).items()
                if a is not None
            }
            deadline = None
            if x.timeout_seconds is not None:
                deadline = (x.started_at or datetime.now(UTC)) + timedelta(seconds=x.timeout_seconds)
            workflow = await workflows.create(
                {
                    "id": id,
                    "execution": x.id,
                    "execution_created": x.created,
                    "workflow_def": definition.id,
                    "definition": definition.definition,
                    "digest": definition.digest,
                    "status": S.RUNNING,
                    "state": {},
                    "result": None,
                    "deadline": deadline,
                }
            )
            if workflow is None:
                return None
            await conn.execute(
                "UPDATE execution SET workflow_def = $3 WHERE id = $1 AND created = $2",
                x.id,
                x.created,
                definition.id,
            )
            session = _Session(
                self,
                conn,
                workflow,
                x.model_copy(update={"workflow_def": definition.id}),
                spec,
                sealed=x.secrets is not None or "decrypt" in definition.source,
            )
            params = workflow_input(action, unseal(x.config, x.secrets, self.box))

            def begin(_: Mapping[str, Any], runtime: Runtime) -> Step:
                return conductor.start(
                    spec,
                    params,
                    context,
                    runtime=runtime,
                    catalog=lambda refs: {r: schemas[r] for r in refs if r in schemas},
                )

            await session.step(begin)
            effects = await session.commit()
        log.info(
            "workflow.started",
            extra={"execution": x.id, "workflow": action.ref, "status": str(session.status)},
        )
        return effects

    async def _user(self, conn: asyncpg.Connection, x: Execution) -> str:
        if x.executor is not None:
            identity = await IdentityRepository(conn).get(x.executor)
            if identity is not None:
                return identity.login
        return SYSTEM_USER

    async def _parent_context(self, conn: asyncpg.Connection, x: Execution) -> dict[str, Any] | None:
        """For a workflow run as a task of another: who and which task started it."""
        if x.parent is None:
            return None
        parents = await WorkflowExecutionRepository(conn).of_executions([x.parent])
        parent = parents.get(x.parent)
        if parent is None:
            return None
        rows = await WorkflowTaskDispatchRepository(conn).of_children(parent.id, [x.id])
        key = rows[x.id].dispatch_key if x.id in rows else ""
        route = route_of(key)
        contexts = self.open_state(parent).get("contexts") or [{}]
        owner = await ExecutionRepository(conn).get(parent.execution, parent.execution_created)
        assert owner is not None
        return nested_context(x, owner, contexts[0], key, route)

    def open_state(self, workflow: WorkflowExecution) -> dict[str, Any]:
        """The conductor's state of ``workflow``, decrypted if it was stored sealed."""
        if workflow.secrets is None:
            return workflow.state
        state: dict[str, Any] = json.loads(self.box.decrypt(workflow.secrets))
        return state

    def _spec(self, digest: str, definition: dict[str, Any]) -> WorkflowSpec:
        spec = self._specs.get(digest)
        if spec is None:
            if len(self._specs) >= _MAX_SPECS:
                self._specs.clear()
            spec = self._specs[digest] = WorkflowSpec.from_data(definition)
        return spec

    # -- children ---------------------------------------------------------------------------------

    async def child_changed(self, child: Execution, status: ExecutionStatus, result: Any = None) -> None:
        """A child of a workflow ended, or went ``pending`` / ``paused`` / back to ``running``:
        advance its workflow. Reports for one workflow arriving together are given to the
        conductor in one transaction. Never raises: what could not be done is left to the
        reconciler (the child stays unreported)."""
        if child.parent is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports.setdefault(child.parent, []).append(_Report(child, status, result, done))
        if child.parent not in self._draining:  # one drain per workflow: it takes what queued meanwhile
            self._draining.add(child.parent)
            self.spawn(self._drain(child.parent))
        await done

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` in the background; :meth:`close` waits for it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, parent: int) -> None:
        await asyncio.sleep(0)  # reports arriving in this loop iteration join the first batch
        try:
            await self._drain_reports(parent)
        finally:
            self._draining.discard(parent)

    async def _drain_reports(self, parent: int) -> None:
        while reports := self._reports.pop(parent, []):
            try:
                effects = await self._locked(parent, functools.partial(self._apply_reports, reports))
                if effects is not None:
                    await self._follow(effects)
            except Exception as exc:
                log.warning(
                    "workflow.advance_failed",
                    extra={"execution": parent, "error": f"{type(exc).__name__}: {exc}"},
                    exc_info=not is_unavailable(exc),
                )
            finally:
                for report in reports:
                    if not report.done.done():
                        report.done.set_result(None)

    async def _apply_reports(self, reports: list[_Report], session: _Session) -> None:
        rows = await WorkflowTaskDispatchRepository(session.conn).of_children(
            session.workflow.id, [r.child.id for r in reports]
        )
        for report in reports:
            row = rows.get(report.child.id)
            if row is None or row.reported is report.status or (row.reported and row.reported.is_terminal):
                continue
            session.reported[row.dispatch_key] = report.status
            if session.over:
                continue
            if report.status.is_terminal:
                session.results[row.dispatch_key] = report.result
            await session.step(
                functools.partial(
                    _child_changed, session.spec, row.dispatch_key, report.status, report.result
                )
            )

    # -- pause, resume, cancel ---------------------------------------------------------------------

    async def pause(self, execution_id: int) -> Execution | None:
        """Pause a workflow: running tasks finish, none starts (``pausing``, then ``paused``); nested
        workflows pause too. ``None`` if there is no such execution; :class:`WorkflowStateError`
        when it is not a running workflow."""
        return await self._control(execution_id, "pause")

    async def resume(self, execution_id: int) -> Execution | None:
        """Resume a paused (or pausing) workflow and its paused nested workflows."""
        return await self._control(execution_id, "resume")

    async def cancel(self, execution_id: int) -> CancelResult | None:
        """Cancel any execution. A workflow stops starting tasks and cancels its running children
        (nested workflows too): ``canceling`` until none runs, then ``cancelled``. Anything else is
        :func:`attune_shared.executions.cancel`'s; a child cancelled before it ran advances its
        workflow at once."""
        x = await ExecutionRepository(self.pool).get(execution_id)
        if x is None:
            return None
        if x.workflow_def is None:
            outcome = await executions.cancel(self.pool, self.bus, execution_id)
            if outcome is None:
                return None
            current = await ExecutionRepository(self.pool).get(execution_id)
            if outcome.outcome == "cancelled" and current is not None:
                await self.child_changed(current, S.CANCELLED, current.result)
            if current is None or current.workflow_def is None:
                return outcome
            x = current  # its workflow started meanwhile: cancel the workflow too
        try:
            cancelled = await self._control(execution_id, "cancel")
        except WorkflowStateError:
            return CancelResult("finished", x)
        assert cancelled is not None
        if cancelled.status is S.CANCELLED:
            return CancelResult("cancelled", cancelled)
        return CancelResult("canceling", cancelled)

    async def _control(self, execution_id: int, request: Cascade) -> Execution | None:
        x = await ExecutionRepository(self.pool).get(execution_id)
        if x is None:
            return None
        if x.workflow_def is None:
            raise WorkflowStateError(
                f"execution {execution_id} is not a workflow"
                + (" (it has not started yet)" if x.status in PRE_RUN_STATUSES else "")
            )

        async def work(session: _Session) -> None:
            spec = session.spec
            if session.over:
                raise WorkflowStateError(f"the workflow is already {session.status}")
            operation: Operation
            if request == "pause":
                operation = lambda state, runtime: conductor.pause(spec, state, runtime=runtime)  # noqa: E731
            elif request == "cancel":
                operation = lambda state, runtime: conductor.cancel(spec, state, runtime=runtime)  # noqa: E731
            else:
                operation = lambda state, runtime: conductor.resume(spec, state, runtime=runtime)  # noqa: E731
            await session.step(operation, strict=True)
            session.cascade = request

        effects = await self._locked(execution_id, work)
        if effects is None:
            raise WorkflowStateError(f"execution {execution_id} is not a workflow")
        await self._follow(effects)
        status = effects.ended[0] if effects.ended else effects.execution.status
        log.info(
            "workflow.control", extra={"execution": execution_id, "request": request, "status": str(status)}
        )
        return effects.execution.model_copy(update={"status": status})

    # -- the transaction and what follows it ------------------------------------------------------

    async def _locked(
        self, execution_id: int, work: Callable[[_Session], Awaitable[None]]
    ) -> _Effects | None:
        """Lock the workflow of ``execution_id``, run ``work`` on it, commit. ``None``: not a workflow."""
        async with self.pool.acquire() as conn, conn.transaction():
            found = await WorkflowExecutionRepository(conn).lock(execution_id)
            if found is None:
                return None
            workflow, x = found
            session = _Session(self, conn, workflow, x, self._spec(workflow.digest, workflow.definition))
            await work(session)
            return await session.commit()

    async def _follow(self, effects: _Effects) -> None:
        """After the commit: publish the children, announce the status, end a finished workflow,
        tell the parent workflow, cascade."""
        x = effects.execution
        await executions.publish_requested_many(self.bus, effects.children)
        if effects.changes:
            await executions.announce(self.bus, x, *effects.changes)
            if effects.changes[-1][1] in (S.PAUSED, S.PENDING, S.RUNNING):
                await self.child_changed(x, effects.changes[-1][1])
        if effects.ended is not None:
            status, result = effects.ended
            await self.end(x, status, result)
            if effects.workflow is not None:
                await WorkflowExecutionRepository(self.pool).close(effects.workflow.id)
            log.info("workflow.ended", extra={"execution": x.id, "status": str(status)})
        if effects.cascade is not None:
            await self._cascade(effects.cascade, effects.open_children)

    async def _cascade(self, request: Cascade, children: list[Execution]) -> None:
        for child in children:
            try:
                if request == "cancel" and child.status in ACTIVE_STATUSES:
                    await self.cancel(child.id)
                elif child.workflow_def is None:
                    continue
                elif request == "pause" and child.status in (S.RUNNING, S.RESUMING):
                    await self.pause(child.id)
                elif request == "resume" and child.status in (S.PAUSING, S.PAUSED):
                    await self.resume(child.id)
            except WorkflowStateError:
                pass  # it finished or moved on meanwhile

    async def _end_directly(self, x: Execution, status: ExecutionStatus, result: dict[str, Any]) -> bool:
        """``end`` outside the executor: a compare-and-set, then the parent workflow advances."""
        won = await executions.transition(
            self.pool, self.bus, executions.Transition(x, status, old=_ACTIVE, changes={"result": result})
        )
        if won:
            await self.child_changed(x, status, result)
        return won

    async def close(self) -> None:
        """Wait for the reports in progress."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- repairs (the maintenance leader) ----------------------------------------------------------

    async def reconcile(self, older_than: timedelta, *, limit: int = 500) -> dict[str, int]:
        """Repair what a crash interrupted, for rows untouched for ``older_than``; end workflows
        past their timeout. Returns what each repair did."""
        repaired = {
            "unreported": await self._report_unreported(older_than, limit),
            "out_of_step": await self._realign(older_than, limit),
            "unstarted": await self._start_unstarted(older_than, limit),
            "timed_out": await self.expire(limit=limit),
        }
        return repaired

    async def _report_unreported(self, older_than: timedelta, limit: int) -> int:
        children = await WorkflowTaskDispatchRepository(self.pool).unreported(older_than, limit=limit)
        await asyncio.gather(*(self.child_changed(c, c.status, c.result) for c in children))
        return len(children)

    async def _realign(self, older_than: timedelta, limit: int) -> int:
        """Executions that do not show their workflow's status: the workflow's decision was
        committed, what follows it was not done."""
        rows = await WorkflowExecutionRepository(self.pool).out_of_step(older_than, limit=limit)
        for workflow, x in rows:
            if x.status.is_terminal:
                if not workflow.status.is_terminal:
                    await self._stop_orphaned(x)
                await WorkflowExecutionRepository(self.pool).close(workflow.id)
                continue
            # under the lock, the commit makes the execution follow the workflow's status
            effects = await self._locked(x.id, _unchanged)
            if effects is None or effects.workflow is None:
                continue
            locked = effects.workflow
            if locked.status.is_terminal and not effects.execution.status.is_terminal:
                effects.ended = (locked.status, locked.result or {"output": None})
            await self._follow(effects)
        return len(rows)

    async def _stop_orphaned(self, x: Execution) -> None:
        """The execution ended without its workflow (ended by something else): stop the workflow."""

        async def work(session: _Session) -> None:
            if not session.over:
                await session.step(
                    lambda state, runtime: conductor.cancel(session.spec, state, runtime=runtime)
                )
                session.status, session.result = x.status, x.result
                session.cascade = "cancel"

        effects = await self._locked(x.id, work)
        if effects is not None:
            effects.ended = None
            await self._follow(effects)

    async def _start_unstarted(self, older_than: timedelta, limit: int) -> int:
        rows = await WorkflowExecutionRepository(self.pool).unstarted(older_than, limit=limit)
        actions = await ActionRepository(self.pool).get_by_refs({x.action_ref for x in rows})
        started = 0
        for x in rows:
            action = actions.get(x.action_ref)
            if action is not None:
                await self.start(x, action)
                started += 1
        return started

    async def expire(self, *, limit: int = 500) -> int:
        """End ``timeout`` the workflows past their deadline; their running children are cancelled."""
        rows = await WorkflowExecutionRepository(self.pool).past_deadline(limit=limit)
        for workflow, x in rows:
            seconds = x.timeout_seconds or 0

            async def work(session: _Session, seconds: int = seconds) -> None:
                if session.over:
                    return
                await session.step(
                    lambda state, runtime: conductor.cancel(session.spec, state, runtime=runtime)
                )
                message = f"The workflow did not finish within its timeout of {seconds} s."
                errors = [*session.state.get("errors", []), {"type": "error", "message": message}]
                session.state = {**session.state, "errors": errors}
                session.status = S.TIMEOUT
                session.result = {"output": session.state.get("output") or None, "errors": errors}
                session.cascade = "cancel"

            effects = await self._locked(x.id, work)
            if effects is not None:
                await self._follow(effects)
            log.warning("workflow.timed_out", extra={"execution": x.id, "workflow": workflow.id})
        return len(rows)
