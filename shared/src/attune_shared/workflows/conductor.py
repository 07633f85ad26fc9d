"""The conductor: a pure state machine that advances one workflow execution.

Every function takes the workflow's spec and its state (a JSON document the engine keeps, e.g.
in a JSONB column) and returns a :class:`Step`: the new state, the child executions to start,
the workflow's status and, once it is over, its result exactly as StackStorm gives it. Nothing
is read or written besides; the given state is not modified. A step for one workflow must not
run concurrently with another for the same workflow (the engine holds a row lock).

Usage by an engine::

    step = start(spec, params, {"st2": {...}, "parent": {...}})
    store(step.state); request(step.dispatches)          # de-duplicated on dispatch.key
    ...
    step = child_changed(spec, state, child.dispatch_key, child.status, child.result)

Semantics are Orquesta's: transitions, publish layers, joins, routes, cycles, engine commands,
fail-fast, with-items with concurrency, retries, delays, pause, resume and cancel.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from attune_shared.statuses import ExecutionStatus
from attune_shared.workflows import machine
from attune_shared.workflows import statuses as st
from attune_shared.workflows.errors import ResultsNeeded, UnreachableJoinError, WorkflowStateError
from attune_shared.workflows.expressions import evaluate
from attune_shared.workflows.functions import NO_ITEM, Datastore, Scope, plain
from attune_shared.workflows.graph import ALL, Edge
from attune_shared.workflows.inspection import Catalog, inspect
from attune_shared.workflows.spec import TaskSpec, WorkflowSpec

#: Version of the state document's layout.
STATE_VERSION: Final = 1

_KEY: Final = re.compile(
    r"^(?P<task>\w+)\.r(?P<route>\d+)\.e(?P<entry>\d+)(?:\.i(?P<item>\d+))?\.a(?P<attempt>\d+)$"
)
_FAILED_MESSAGE: Final = "Execution failed. See result for details."


@dataclass(frozen=True)
class Runtime:
    """What expressions may need from outside: children's results and the datastore.

    ``results`` maps dispatch keys to their child's result. It is read only for ``task(name)``
    and when a with-items task completes; a missing key raises :class:`ResultsNeeded` naming
    the keys to load before repeating the call. ``datastore`` serves ``st2kv()``.
    """

    results: Mapping[str, Any] = field(default_factory=dict)
    datastore: Datastore | None = None


@dataclass(frozen=True)
class Dispatch:
    """A child execution to start. ``key`` is stable and unique within the workflow execution."""

    key: str
    task_id: str
    route: int
    item: int | None
    attempt: int
    action: Any
    input: Any
    delay: int


@dataclass(frozen=True)
class Step:
    """The outcome of one call: new state, children to start, status, and the result once over."""

    state: dict[str, Any]
    dispatches: tuple[Dispatch, ...]
    status: ExecutionStatus
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        """Whether the workflow reached a terminal status."""
        return self.status.is_terminal


def dispatch_key(task_id: str, route: int, entry: int, item: int | None, attempt: int) -> str:
    """``task.r<route>.e<entry>[.i<item>].a<attempt>``: one child per task entry, item and attempt."""
    item_part = "" if item is None else f".i{item}"
    return f"{task_id}.r{route}.e{entry}{item_part}.a{attempt}"


def start(
    spec: WorkflowSpec,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    runtime: Runtime | None = None,
    catalog: Catalog | None = None,
) -> Step:
    """Inspect the workflow, render its input and vars, and start its first tasks.

    ``params`` are the workflow action's parameters (only the names the workflow's ``input``
    declares are kept; a present ``None`` beats the default); ``context`` holds ``st2`` and
    ``parent`` as StackStorm sets them. An inspection error fails the workflow at once with
    ``{"errors": [...], "output": None}``.
    """
    errors = inspect(spec, catalog=catalog, known=list(context))
    if errors:
        state = _empty_state(st.FAILED)
        state["errors"] = errors
        return Step(state, (), ExecutionStatus.FAILED, {"errors": errors, "output": None})
    run = _Run(spec, _empty_state(st.UNSET), runtime)
    run.initialize(params, context)
    if run.status not in st.ABENDED:
        run.request(st.REQUESTED)
    return run.finish()


def child_changed(
    spec: WorkflowSpec,
    state: Mapping[str, Any],
    key: str,
    status: ExecutionStatus | str,
    result: Any = None,
    *,
    runtime: Runtime | None = None,
) -> Step:
    """A child execution changed status: ended, went ``pending`` (an inquiry), ``paused``, or resumed.

    A repeated or outdated report (the same completion delivered twice, a result for an attempt
    that was retried) changes nothing and dispatches nothing.
    """
    event = st.FROM_EXECUTION.get(ExecutionStatus(status))
    run = _Run(spec, state, runtime)
    if event is None:
        return run.finish(advance=False)
    target = run.locate(key)
    if target is None or not run.accepts(target, event):
        return run.finish(advance=False)
    task_id, route, item = target
    if event == st.RUNNING and run.status in (st.PAUSING, st.PAUSED, st.RESUMING):
        run.request(st.RUNNING)
    if event in st.COMPLETED and run.entry(task_id, route).get("status") == st.PAUSED:
        run.update_task(task_id, route, st.RUNNING, item=item)
    run.update_task(task_id, route, event, result=result, item=item, from_child=True)
    return run.finish()


def pause(spec: WorkflowSpec, state: Mapping[str, Any], *, runtime: Runtime | None = None) -> Step:
    """Pause: running children finish, no new task starts (``pausing``, then ``paused``)."""
    run = _Run(spec, state, runtime)
    run.require_active()
    run.request(st.PAUSED)
    return run.finish(advance=False)


def resume(spec: WorkflowSpec, state: Mapping[str, Any], *, runtime: Runtime | None = None) -> Step:
    """Resume a paused workflow: start what is ready (a running workflow is left as it is)."""
    run = _Run(spec, state, runtime)
    run.require_active()
    if run.status in st.RUNNING_SET:
        return run.finish(advance=False)
    run.request(st.RESUMING)
    return run.finish()


def cancel(spec: WorkflowSpec, state: Mapping[str, Any], *, runtime: Runtime | None = None) -> Step:
    """Cancel: no new task starts; ``canceling`` while children run, then ``cancelled`` (its output
    rendered: ``runtime`` gives the children's results it reads, as for :func:`child_changed`)."""
    run = _Run(spec, state, runtime)
    run.require_active()
    run.request(st.CANCELED)
    return run.finish(advance=False)


def dispatch_failed(spec: WorkflowSpec, state: Mapping[str, Any], key: str, message: str) -> Step:
    """A child could not be created (unknown action, invalid parameters): fail the workflow.

    ``message`` is the error as users see it, e.g. ``ValueError: Value "…" must either be …``.
    """
    run = _Run(spec, state, None)
    target = run.locate(key)
    if target is None or run.status in st.COMPLETED:
        return run.finish(advance=False)
    task_id, route, item = target
    run.request(st.FAILED)
    run.log(message, task_id=task_id, route=route)
    run.mark_failed(task_id, route, item)
    return run.finish(advance=False)


def active_dispatches(state: Mapping[str, Any]) -> list[str]:
    """Keys of the children still running (what cancelling or pausing may cascade to)."""
    keys = []
    sequence = state.get("sequence", [])
    for index in state.get("tasks", {}).values():
        entry = sequence[index]
        attempt = entry.get("retry", {}).get("tally", 0)
        items = _staged_items(state, entry["id"], entry["route"])
        if items is not None:
            keys += [
                dispatch_key(entry["id"], entry["route"], index, i, attempt)
                for i, status in enumerate(items)
                if status in st.ACTIVE
            ]
        elif entry.get("status") in st.ACTIVE:
            keys.append(dispatch_key(entry["id"], entry["route"], index, None, attempt))
    return sorted(keys)


def _staged_items(state: Mapping[str, Any], task_id: str, route: int) -> list[str] | None:
    for staged in state.get("staged", []):
        if staged["id"] == task_id and staged["route"] == route and "items" in staged:
            items: list[str] = staged["items"]
            return items
    return None


def _empty_state(status: str) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "status": status,
        "contexts": [],
        "routes": [],
        "sequence": [],
        "tasks": {},
        "staged": [],
        "errors": [],
        "output": None,
    }


def _copy_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A copy to work on; context layers are never modified, so they are shared."""
    copied = copy.deepcopy({key: value for key, value in state.items() if key != "contexts"})
    copied["contexts"] = list(state.get("contexts", []))
    return copied


def _merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge, ``right`` winning; neither side is modified."""
    merged = dict(left)
    for key, value in right.items():
        current = merged.get(key)
        merged[key] = (
            _merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
        )
    return merged


def _entry_key(task_id: str, route: int) -> str:
    return f"{task_id}__r{route}"


class _Run:
    """One step's work on a copy of the state (Orquesta's conductor, without its deep copies)."""

    def __init__(self, spec: WorkflowSpec, state: Mapping[str, Any], runtime: Runtime | None) -> None:
        self.spec = spec
        self.graph = spec.graph
        self.state = _copy_state(state)
        self.runtime = runtime or Runtime()
        self.dispatches: list[Dispatch] = []
        self._fresh_results: dict[str, Any] = {}

    # -- status -----------------------------------------------------------------------------

    @property
    def status(self) -> str:
        status: str = self.state["status"]
        return status

    def require_active(self) -> None:
        if self.status in st.COMPLETED:
            raise WorkflowStateError(f"the workflow is already {st.TO_EXECUTION[self.status].value}")

    def request(self, requested: str) -> None:
        """Ask for a workflow status, telling the active tasks first (Orquesta's request_workflow_status)."""
        current = self.status
        for entry in self.latest_entries(st.ACTIVE):
            items = self.staged_items(entry["id"], entry["route"])
            new = machine.task_on_request(entry["status"], requested, items)
            if new:
                entry["status"] = new
        finished = not self.has_active() and not self.has_staged() and not self.has_paused()
        new_status = machine.workflow_on_request(current, requested, self.has_active(), finished)
        if new_status:
            self.state["status"] = new_status
        if new_status is None and requested != current:
            if (requested, current) in ((st.PAUSED, st.PAUSING), (st.CANCELED, st.CANCELING)):
                return
            raise WorkflowStateError(
                f"a {st.TO_EXECUTION.get(current, ExecutionStatus.REQUESTED).value} workflow cannot be "
                f"{st.TO_EXECUTION.get(requested, ExecutionStatus.REQUESTED).value}"
            )

    # -- log --------------------------------------------------------------------------------

    def log(
        self,
        message: str,
        *,
        task_id: str | None = None,
        route: int | None = None,
        transition: str | None = None,
        result: Any = None,
    ) -> None:
        entry: dict[str, Any] = {"type": "error", "message": message}
        for name, value in (("task_id", task_id), ("route", route), ("task_transition_id", transition)):
            if value is not None:
                entry[name] = value
        if result is not None:
            entry["result"] = result
        if entry not in self.state["errors"]:
            self.state["errors"].append(entry)

    def log_error(self, exc: Exception, **where: Any) -> None:
        self.log(f"{type(exc).__name__}: {exc}", **where)

    # -- entries and staging ----------------------------------------------------------------

    def entry(self, task_id: str, route: int) -> dict[str, Any]:
        found = self.find_entry(task_id, route)
        if found is None:
            raise WorkflowStateError(f'Task "{task_id}" is not staged or has not started yet.')
        return found

    def find_entry(self, task_id: str, route: int) -> dict[str, Any] | None:
        index = self.state["tasks"].get(_entry_key(task_id, route))
        return None if index is None else self.state["sequence"][index]

    def entry_index(self, task_id: str, route: int) -> int:
        index: int = self.state["tasks"][_entry_key(task_id, route)]
        return index

    def latest_entries(self, statuses: frozenset[str]) -> list[dict[str, Any]]:
        sequence = self.state["sequence"]
        return [
            sequence[index]
            for index in sorted(self.state["tasks"].values())
            if sequence[index].get("status") in statuses
        ]

    def has_active(self) -> bool:
        return bool(self.latest_entries(st.ACTIVE))

    def has_paused(self) -> bool:
        return bool(self.latest_entries(frozenset({st.PAUSED, st.PENDING})))

    def staged(self, task_id: str, route: int) -> dict[str, Any] | None:
        staged: dict[str, Any]
        for staged in self.state["staged"]:
            if staged["id"] == task_id and staged["route"] == route:
                return staged
        return None

    def staged_items(self, task_id: str, route: int) -> list[str] | None:
        staged = self.staged(task_id, route)
        items: list[str] | None = staged.get("items") if staged else None
        return items

    def ready_staged(self) -> list[dict[str, Any]]:
        return [s for s in self.state["staged"] if s["ready"] and not s.get("completed")]

    def has_staged(self) -> bool:
        return bool(self.ready_staged())

    def add_staged(
        self,
        task_id: str,
        route: int,
        ctxs: list[int],
        prev: dict[str, int],
        *,
        ready: bool,
        retry: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        staged: dict[str, Any] = {
            "id": task_id,
            "route": route,
            "ctxs": {"in": ctxs},
            "prev": prev,
            "ready": ready,
        }
        if retry:
            staged["retry"] = retry
        self.state["staged"].append(staged)
        return staged

    def remove_staged(self, task_id: str, route: int) -> None:
        staged = self.staged(task_id, route)
        if staged and not any(status in st.ACTIVE for status in staged.get("items", [])):
            self.state["staged"].remove(staged)

    def add_entry(self, task_id: str, route: int, ctxs: list[int], prev: dict[str, int]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": task_id,
            "route": route,
            "ctxs": {"in": list(ctxs)},
            "prev": dict(prev),
            "next": {},
        }
        retry = self.graph.retry.get(task_id)
        if retry is not None:
            entry["retry"] = self.retry_setup(task_id, retry, ctxs)
        self.state["sequence"].append(entry)
        self.state["tasks"][_entry_key(task_id, route)] = len(self.state["sequence"]) - 1
        return entry

    def retry_setup(self, task_id: str, retry: dict[str, Any], ctxs: list[int]) -> dict[str, Any]:
        setup = dict(retry, tally=0)
        scope = self.scope(self.context(ctxs))
        for name in ("delay", "count"):
            if isinstance(setup.get(name), str):
                value = evaluate(setup[name], scope)
                if not isinstance(value, int):
                    raise ValueError(f'The retry {name} for task "{task_id}" is not an integer.')
                setup[name] = value
        return setup

    # -- contexts ---------------------------------------------------------------------------

    def context(self, indexes: Sequence[int]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for index in indexes:
            merged = _merge(merged, self.state["contexts"][index])
        return merged

    def initial_context(self, task_id: str, route: int) -> dict[str, Any]:
        staged = self.staged(task_id, route)
        if staged is not None:
            return self.context(staged["ctxs"]["in"])
        entry = self.find_entry(task_id, route)
        if entry is not None:
            return self.context(entry["ctxs"]["in"])
        return self.context([0])

    def scope(
        self, variables: Mapping[str, Any], task: Mapping[str, Any] | None = None, item: Any = NO_ITEM
    ) -> Scope:
        return Scope(vars=variables, task=task, item=item, progress=self, datastore=self.runtime.datastore)

    # -- what expressions read (functions.Progress) --------------------------------------------

    def task_status(self, task_id: str, route: int) -> str:
        entry = self._entry_on_route(task_id, route)
        return entry.get("status", st.UNSET) if entry else st.UNSET

    def task_record(self, task_id: str, route: int) -> dict[str, Any] | None:
        entry = self._entry_on_route(task_id, route)
        if entry is None:
            return None
        index = self.state["sequence"].index(entry)
        attempt = entry.get("retry", {}).get("tally", 0)
        if "items" in entry:
            statuses = entry["items"]
            results = self.results(
                [dispatch_key(entry["id"], entry["route"], index, i, attempt) for i in range(len(statuses))],
                statuses,
            )
            task_result: Any = {
                "items": [{"status": s, "result": r} for s, r in zip(statuses, results, strict=True)]
            }
        elif self.spec.tasks.get(task_id) is not None and self.spec.tasks[task_id].action:
            task_result = self.results(
                [dispatch_key(entry["id"], entry["route"], index, None, attempt)],
                [entry.get("status", st.UNSET)],
            )[0]
        else:
            task_result = None
        return {
            "task_id": entry["id"],
            "task_name": entry["id"],
            "route": entry["route"],
            "status": entry.get("status", st.UNSET),
            "result": task_result,
        }

    def _entry_on_route(self, task_id: str, route: int) -> dict[str, Any] | None:
        entry = self.find_entry(task_id, route)
        if entry is None and route > 0:
            details = set(self.state["routes"][route])
            for offset, earlier in enumerate(reversed(self.state["routes"][:route])):
                if not set(earlier) - details:
                    return self._entry_on_route(task_id, route - offset - 1)
        return entry

    def results(self, keys: list[str], statuses: Sequence[str]) -> list[Any]:
        """Results of children (``None`` for items that never ran), or :class:`ResultsNeeded`."""
        known = {**self.runtime.results, **self._fresh_results}
        missing = [
            key for key, status in zip(keys, statuses, strict=True) if status != st.UNSET and key not in known
        ]
        if missing:
            raise ResultsNeeded(missing)
        return [known.get(key) for key in keys]

    # -- locating reports -------------------------------------------------------------------

    def locate(self, key: str) -> tuple[str, int, int | None] | None:
        match = _KEY.match(key)
        if not match:
            return None
        task_id, route, index = match["task"], int(match["route"]), int(match["entry"])
        if self.state["tasks"].get(_entry_key(task_id, route)) != index:
            return None
        entry = self.state["sequence"][index]
        if int(match["attempt"]) != entry.get("retry", {}).get("tally", 0):
            return None
        item = None if match["item"] is None else int(match["item"])
        return task_id, route, item

    def accepts(self, target: tuple[str, int, int | None], event: str) -> bool:
        task_id, route, item = target
        entry = self.entry(task_id, route)
        if item is None:
            return entry.get("status") not in st.COMPLETED and entry.get("status") != event
        items = self.staged_items(task_id, route)
        if items is None or item >= len(items):
            return False
        return items[item] not in st.COMPLETED and items[item] != event

    def mark_failed(self, task_id: str, route: int, item: int | None) -> None:
        items = self.staged_items(task_id, route)
        if item is not None and items is not None:
            items[item] = st.FAILED
        else:
            self.entry(task_id, route)["status"] = st.FAILED

    # -- starting ---------------------------------------------------------------------------

    def initialize(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        rolling = dict(plain(context))
        errors: list[Exception] = []
        for name, default in self.spec.input:
            value = params.get(name, default)
            try:
                rolling[name] = plain(evaluate(value, self.scope(rolling)))
            except Exception as exc:
                errors.append(exc)
        variables: dict[str, Any] = {}
        for name, expression in self.spec.vars:
            try:
                variables[name] = plain(evaluate(expression, self.scope(_merge(rolling, variables))))
            except Exception as exc:
                errors.append(exc)
        if errors:
            for error in errors:
                self.log_error(error)
            self.request(st.FAILED)
            return
        self.state["contexts"].append(_merge(rolling, variables))
        self.state["routes"].append([])
        for name in self.graph.starts:
            self.add_staged(name, 0, [0], {}, ready=True)

    # -- advancing --------------------------------------------------------------------------

    def advance(self) -> None:
        """Start what is ready, completing action-less tasks inline, until nothing more is ready."""
        if self.status in (st.REQUESTED, st.SCHEDULED):
            self.request(st.RUNNING)
        while True:
            ready = self.next_tasks()
            if not ready:
                return
            for task in ready:
                self.mark_running(task)
            for task in ready:
                self.request_task(task)

    def next_tasks(self) -> list[dict[str, Any]]:
        staged = self.ready_staged()
        if self.status == st.FAILED:
            staged = [s for s in staged if s.get("run_on_fail")]
            if not staged:
                return []
        elif self.status not in st.RUNNING_SET:
            return []
        tasks, failed = [], False
        for entry in list(staged):
            try:
                task = self.render_task(entry)
            except ResultsNeeded:
                raise
            except Exception as exc:
                failed = True
                self.log_error(exc, task_id=entry["id"], route=entry["route"])
                continue
            if task is not None:
                tasks.append(task)
        if failed:
            self.request(st.FAILED)
            return []
        return sorted(tasks, key=lambda task: (task["id"], task["route"]))

    def render_task(self, staged: dict[str, Any]) -> dict[str, Any] | None:
        task_id, route = staged["id"], staged["route"]
        spec = self.graph.task(task_id)
        variables = self.initial_context(task_id, route)
        scope = self.scope(variables, {"id": task_id, "route": route})
        task: dict[str, Any] = {"id": task_id, "route": route, "spec": spec, "delay": None, "actions": []}
        if spec is not None and spec.delay:
            delay = evaluate(spec.delay, scope) if isinstance(spec.delay, str) else spec.delay
            if not isinstance(delay, int):
                raise TypeError("The value of task delay is not type of integer.")
            task["delay"] = delay
        if "retry" in staged:
            task["delay"] = staged["retry"].get("delay") or 0
        if spec is None or spec.items is None:
            action = evaluate(spec.action, scope) if spec is not None else None
            task_input = evaluate(spec.input if spec is not None and spec.input is not None else {}, scope)
            task["actions"] = [(None, action, plain(task_input))]
            return task
        return self.render_items(task, spec, staged, scope)

    def render_items(
        self, task: dict[str, Any], spec: TaskSpec, staged: dict[str, Any], scope: Scope
    ) -> dict[str, Any] | None:
        assert spec.items is not None
        values = staged.get("values")
        if values is None:  # evaluated once per staging: the context it reads does not change
            values = evaluate(spec.items.expression, scope)
            if not isinstance(values, list):
                raise TypeError(f'The value of "{spec.items.expression}" is not type of list.')
            staged["values"] = values = plain(values)
        concurrency = evaluate(spec.items.concurrency, scope)
        if concurrency is not None and concurrency <= 0:
            concurrency = 1
        task["items_count"], task["concurrency"] = len(values), concurrency
        if not staged.get("items"):
            staged["items"] = [st.UNSET] * len(values)
        items = staged["items"]
        waiting = [index for index, status in enumerate(items) if status == st.UNSET]
        if concurrency is not None:
            active = sum(1 for status in items if status in st.ACTIVE)
            waiting = waiting[: max(concurrency - active, 0)]
        for index in waiting:
            item_scope = self.scope(scope.vars, scope.task, item=_item_value(spec, values[index]))
            action = evaluate(spec.action, item_scope)
            task_input = evaluate(spec.input if spec.input is not None else {}, item_scope)
            task["actions"].append((index, action, plain(task_input)))
        if task["actions"] or not values:
            return task
        return None

    def mark_running(self, task: dict[str, Any]) -> None:
        task_id, route = task["id"], task["route"]
        try:
            if task.get("items_count") == 0:
                self.update_task(task_id, route, st.RUNNING)
            for item, _, _ in task["actions"]:
                self.update_task(task_id, route, st.RUNNING, item=item)
        except ResultsNeeded:
            raise
        except Exception as exc:
            self.log_error(exc, task_id=task_id, route=route)
            self.request(st.FAILED)
            task["actions"] = []
            task["items_count"] = None
            task["spec"] = None

    def request_task(self, task: dict[str, Any]) -> None:
        task_id, route = task["id"], task["route"]
        spec: TaskSpec | None = task["spec"]
        entry = self.find_entry(task_id, route)
        if entry is None or (not task["actions"] and task.get("items_count") != 0):
            return
        if spec is None or not spec.action:
            self.update_task(task_id, route, st.SUCCEEDED)
            return
        if task.get("items_count") == 0:
            entry["items"] = []
            self.update_task(task_id, route, st.SUCCEEDED, result=[])
            return
        index = self.entry_index(task_id, route)
        attempt = entry.get("retry", {}).get("tally", 0)
        concurrency = task.get("concurrency")
        for item, action, task_input in task["actions"]:
            delay = task["delay"] or 0
            if item is not None and concurrency and item >= concurrency:
                delay = 0
            self.dispatches.append(
                Dispatch(
                    dispatch_key(task_id, route, index, item, attempt),
                    task_id,
                    route,
                    item,
                    attempt,
                    action,
                    task_input,
                    delay,
                )
            )

    # -- task events --------------------------------------------------------------------------

    def update_task(
        self,
        task_id: str,
        route: int,
        event: str,
        *,
        result: Any = None,
        item: int | None = None,
        from_child: bool = False,
    ) -> dict[str, Any]:
        """Apply one event to a task (Orquesta's update_task_state)."""
        commands: list[tuple[str, int]] = []
        staged = self.staged(task_id, route)
        entry = self.find_entry(task_id, route)
        spec = self.graph.task(task_id)
        if staged is None and entry is None:
            raise WorkflowStateError(f'Task "{task_id}" is not staged or has not started yet.')
        if entry is None or self.graph.is_command(task_id):
            assert staged is not None
            entry = self.add_entry(task_id, staged["route"], staged["ctxs"]["in"], staged["prev"])
        if entry.get("status") in st.COMPLETED and event in st.STARTING and staged is not None:
            entry = self.add_entry(task_id, staged["route"], staged["ctxs"]["in"], staged["prev"])
        index = self.entry_index(task_id, route)
        if staged is not None and "items" not in staged:
            self.remove_staged(task_id, route)
        others: list[str] = []
        if staged is not None and item is not None and "items" in staged:
            others = staged["items"][:item] + staged["items"][item + 1 :]
            staged["items"][item] = event
        if event in (st.FAILED, machine.FAIL) or (from_child and event in st.ABENDED):
            self.log(_FAILED_MESSAGE, task_id=task_id, result=result)
        old = entry.get("status", st.UNSET)
        new = (
            machine.task_on_item(old, event, others)
            if item is not None
            else machine.task_on_action(old, event)
        )
        if new:
            entry["status"] = new
        new = entry.get("status", st.UNSET)
        if from_child:
            attempt = entry.get("retry", {}).get("tally", 0)
            self._fresh_results[dispatch_key(task_id, route, index, item, attempt)] = result
        if new == st.RETRYING:
            entry["retry"]["tally"] += 1
            self.remove_staged(task_id, route)
            self.add_staged(
                task_id, route, entry["ctxs"]["in"], entry["prev"], ready=True, retry=dict(entry["retry"])
            )
        current: dict[str, Any] = {}
        if new in st.COMPLETED:
            has_items = spec is not None and spec.items is not None
            if not (has_items and new in st.ABENDED):
                self.remove_staged(task_id, route)
            else:
                kept = self.staged(task_id, route)
                if kept is not None:
                    kept["completed"] = True
            task_result = (
                self.item_results(task_id, route, index, entry, staged)
                if has_items and item is not None
                else result
            )
            current = {"id": task_id, "route": route, "result": task_result}
            if self.status in st.ACTIVE and self.retry_due(entry, current):
                return self.update_task(task_id, route, machine.RETRY)
        if new in st.COMPLETED and new != old:
            commands = self.transitions(task_id, route, entry, current)
        self.on_task_event(task_id, route, new)
        for command, command_route in commands:
            self.update_task(command, command_route, command)
        if self.status in st.COMPLETED:
            entry["term"] = True
        return entry

    def item_results(
        self, task_id: str, route: int, index: int, entry: dict[str, Any], staged: dict[str, Any] | None
    ) -> list[Any]:
        statuses = list(staged["items"]) if staged and "items" in staged else []
        entry["items"] = statuses
        attempt = entry.get("retry", {}).get("tally", 0)
        keys = [dispatch_key(task_id, route, index, i, attempt) for i in range(len(statuses))]
        return self.results(keys, statuses)

    def retry_due(self, entry: dict[str, Any], current: dict[str, Any]) -> bool:
        retry = entry.get("retry")
        if retry is None or retry["tally"] >= retry["count"]:
            return False
        if entry.get("status") in st.ABENDED and retry.get("when") is None:
            return True
        if retry.get("when") is None:
            return False
        scope = self.scope(self.context(entry["ctxs"]["in"]), current)
        try:
            return bool(evaluate(retry["when"], scope))
        except ResultsNeeded:
            raise
        except Exception as exc:
            self.log_error(exc, task_id=entry["id"], route=entry["route"])
            self.request(st.FAILED)
            return False

    def transitions(
        self, task_id: str, route: int, entry: dict[str, Any], current: dict[str, Any]
    ) -> list[tuple[str, int]]:
        """Evaluate the outbound transitions of a task that just completed; stage what they lead to."""
        commands: list[tuple[str, int]] = []
        manual_fail = False
        ready_targets: list[dict[str, Any]] = []
        edges = self.graph.out.get(task_id, [])
        if not edges:
            entry["term"] = True
        in_context = self.context(entry["ctxs"]["in"])
        index = self.entry_index(task_id, route)
        for edge in edges:
            scope = self.scope(in_context, current)
            try:
                entry["next"][edge.id] = all(
                    bool(evaluate(c, scope)) for c in ([edge.when] if edge.when else [])
                )
            except ResultsNeeded:
                raise
            except Exception as exc:
                self.log_error(exc, task_id=task_id, route=route, transition=edge.id)
                self.request(st.FAILED)
                continue
            if not entry["next"][edge.id]:
                continue
            published, errors = self.publish(edge, in_context, current)
            if errors:
                for error in errors:
                    self.log_error(error, task_id=task_id, route=route, transition=edge.id)
                self.request(st.FAILED)
                continue
            out = list(entry["ctxs"]["in"])
            if published:
                self.state["contexts"].append(published)
                out.append(len(self.state["contexts"]) - 1)
                entry["ctxs"]["out"] = {edge.id: len(self.state["contexts"]) - 1}
            target_route = self.route_for(edge, route)
            joined = self.find_entry(edge.target, target_route)
            if (
                joined is not None
                and self.graph.barrier(edge.target) is not None
                and not self.graph.in_cycle(edge.target)
            ):
                joined["prev"][edge.backref] = index  # a join runs once; a later arrival is only recorded
                continue
            staged = self.staged(edge.target, target_route)
            if staged is not None:
                out.remove(0)
                staged["ctxs"]["in"].extend(out)
                staged["prev"][edge.backref] = index
                for stale in ("items", "values", "completed"):
                    staged.pop(stale, None)
            else:
                staged = self.add_staged(edge.target, target_route, out, {edge.backref: index}, ready=False)
            staged["ready"] = self.inbound(edge.target, route) == _SATISFIED
            if self.graph.is_command(edge.target):
                commands.append((staged["id"], staged["route"]))
                manual_fail = manual_fail or edge.target == machine.FAIL
            elif staged["ready"]:
                ready_targets.append(staged)
        if manual_fail:
            for staged in ready_targets:
                staged["run_on_fail"] = True
        return commands

    def publish(
        self, edge: Edge, in_context: dict[str, Any], current: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Exception]]:
        spec = self.graph.task(edge.source)
        assert spec is not None
        rolling = dict(in_context)
        published: dict[str, Any] = {}
        errors: list[Exception] = []
        for name, expression in spec.next[edge.index].publish:
            try:
                value = plain(evaluate(expression, self.scope(rolling, current)))
            except ResultsNeeded:
                raise
            except Exception as exc:
                errors.append(exc)
                continue
            rolling[name] = published[name] = value
        return {k: v for k, v in published.items() if not k.startswith("__")}, errors

    def route_for(self, edge: Edge, route: int) -> int:
        if not self.graph.is_split(edge.target) or self.graph.in_cycle(edge.target):
            return route
        details = list(self.state["routes"][route])
        if edge.backref in details:
            return route
        self.state["routes"].append([*details, edge.backref])
        return len(self.state["routes"]) - 1

    def inbound(self, task_id: str, route: int) -> str:
        """Whether a task's inbound transitions satisfy its join (or the single arrival it needs)."""
        edges = self.graph.into.get(task_id, [])
        arrived: dict[str, bool | None] = {edge.source: None for edge in edges}
        barrier = self.graph.barrier(task_id) or 1
        required = len(arrived) if barrier == ALL else barrier
        for edge in edges:
            entry = self.find_entry(edge.source, route)
            if entry is None:
                continue
            if not arrived[edge.source]:
                arrived[edge.source] = bool(entry["next"].get(edge.id))
        if sum(1 for value in arrived.values() if value) >= required:
            return _SATISFIED
        if None in arrived.values() and (self.has_active() or self.has_staged()):
            return _IN_PROGRESS
        return _UNSATISFIED

    def has_next(self, task_id: str, route: int) -> bool:
        entry = self.find_entry(task_id, route)
        if entry is None or entry.get("status") not in st.COMPLETED:
            return False
        for edge in self.graph.out.get(task_id, []):
            if edge.target == machine.CONTINUE or not entry["next"].get(edge.id):
                continue
            if (
                self.graph.barrier(edge.target) is not None
                and self.inbound(edge.target, route) == _UNSATISFIED
            ):
                continue
            return True
        return False

    def on_task_event(self, task_id: str, route: int, task_status: str) -> None:
        """The workflow's part of a task event (Orquesta's WorkflowStateMachine.process_task_event)."""
        has_next = self.has_next(task_id, route)
        event = "remediated" if task_status in st.ABENDED and has_next else task_status
        situation = "incomplete"
        if event in (st.SUCCEEDED, "remediated"):
            if self.latest_entries(frozenset({st.CANCELING, st.CANCELED})):
                situation = "canceled"
            elif self.latest_entries(frozenset({st.PAUSING, st.PAUSED, st.PENDING})):
                situation = "paused"
            elif not (self.has_staged() or has_next):
                situation = "completed"
        new = machine.workflow_on_task(self.status, event, self.has_active(), situation)
        if new:
            self.state["status"] = new
        if self.status in st.COMPLETED:
            self.fail_unreachable_joins()

    def fail_unreachable_joins(self) -> None:
        for staged in list(self.state["staged"]):
            if self.graph.barrier(staged["id"]) is None or staged["ready"]:
                continue
            if self.inbound(staged["id"], staged["route"]) == _UNSATISFIED:
                self.state["status"] = st.FAILED
                self.log_error(
                    UnreachableJoinError(staged["id"], staged["route"]),
                    task_id=staged["id"],
                    route=staged["route"],
                )

    # -- finishing --------------------------------------------------------------------------

    def render_output(self) -> None:
        if self.status not in st.COMPLETED or self.state["output"]:
            return
        terminal = [entry for entry in self.state["sequence"] if entry.get("term")]
        variables: dict[str, Any] = {}
        if terminal:
            variables = self.context(terminal[0]["ctxs"]["in"])
            for entry in terminal[1:]:
                indexes = list(entry["ctxs"]["in"])
                indexes.remove(0)
                variables = _merge(variables, self.context(indexes))
        rolling = dict(variables)
        output: dict[str, Any] = {}
        errors: list[Exception] = []
        for name, expression in self.spec.output:
            try:
                value = plain(evaluate(expression, self.scope(rolling)))
            except ResultsNeeded:
                raise
            except Exception as exc:
                errors.append(exc)
                continue
            rolling[name] = output[name] = value
        if output:
            self.state["output"] = output
        for error in errors:
            self.log_error(error)
        if errors and self.status not in (st.TIMEOUT, st.ABANDONED, st.CANCELED):
            self.request(st.FAILED)

    def finish(self, *, advance: bool = True) -> Step:
        if advance:
            self.advance()
        self.render_output()
        status = st.TO_EXECUTION[self.status] if self.status != st.UNSET else ExecutionStatus.REQUESTED
        result = None
        if self.status in st.COMPLETED:
            result = {"output": self.state["output"] or None}
            if self.status in st.ABENDED:
                result["errors"] = list(self.state["errors"])
        return Step(self.state, tuple(self.dispatches), status, result)


_SATISFIED: Final = "satisfied"
_IN_PROGRESS: Final = "in_progress"
_UNSATISFIED: Final = "unsatisfied"


def _item_value(spec: TaskSpec, value: Any) -> Any:
    names = spec.items.names if spec.items else None
    if names and isinstance(value, list | tuple):
        return dict(zip(names, list(value), strict=False))
    if names and len(names) == 1:
        return {names[0]: value}
    return value
