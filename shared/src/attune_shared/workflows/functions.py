"""The functions expressions can call: Orquesta's own, ``task()``, ``st2kv()`` and StackStorm's helpers.

Functions that read the workflow (``ctx``, ``result``, ``task_status`` …) take the evaluation
:class:`Scope` first; :mod:`.expressions` binds it (a YAQL function's context, a Jinja global).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from attune_shared.expression_functions import FUNCTIONS
from attune_shared.workflows import statuses as st
from attune_shared.workflows.errors import (
    ExpressionEvaluationException,
    VariableInaccessibleError,
    VariableUndefinedError,
)

#: ``(key, decrypt, default given, default, user) -> value``; see :func:`st2kv`.
Datastore = Callable[..., Any]


class Progress(Protocol):
    """What expressions may read of a running workflow (the conductor provides it)."""

    def task_status(self, task_id: str, route: int) -> str:
        """Orquesta status of the task's latest entry on ``route`` (or an earlier route), or ``"null"``."""

    def task_record(self, task_id: str, route: int) -> dict[str, Any] | None:
        """What ``task(name)`` shows of the task's latest entry, or ``None`` if it never ran."""


#: Internal names Orquesta keeps among the variables (so ``ctx`` calls them inaccessible).
_INTERNAL: Final = frozenset({"__current_task", "__current_item", "__state"})


class _NoItem:
    """Marks a scope outside a with-items task."""


NO_ITEM: Final = _NoItem()


@dataclass
class Scope:
    """What one evaluation sees: variables, the current task, item and workflow, the datastore."""

    vars: Mapping[str, Any]
    task: Mapping[str, Any] | None = None  #: ``{"id", "route"[, "result"]}``
    item: Any = NO_ITEM
    progress: Progress | None = None
    datastore: Datastore | None = None
    cache: dict[str, Any] = field(default_factory=dict)


def plain(value: Any) -> Any:
    """``value`` with YAQL's frozen containers and iterators turned into dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator | set | frozenset):
        return [plain(item) for item in value]
    return value


def ctx(scope: Scope, key: str | None = None) -> Any:
    """All variables (``ctx()``) or one (``ctx(name)``); ``__`` names are internal."""
    if not key:
        return {name: value for name, value in scope.vars.items() if not name.startswith("__")}
    if key not in scope.vars and key not in _INTERNAL:
        raise VariableUndefinedError(key)
    if key.startswith("__"):
        raise VariableInaccessibleError(key)
    return scope.vars[key]


def json_(value: Any) -> Any:
    """Parse JSON text; a dict passes through."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise TypeError("Given object is not typeof string.")
    return json.loads(value)


def zip_(*lists: Any, pad: Any = None) -> Any:
    """Pairs of the lists' elements, shorter lists padded with ``pad``; one list is returned as is."""
    columns = [[] if column is None else column for column in lists]
    if len(columns) == 1:
        return columns[0]
    return [list(row) for row in itertools.zip_longest(*columns, fillvalue=pad)]


def _current_task(scope: Scope) -> Mapping[str, Any]:
    if not scope.task:
        raise ExpressionEvaluationException("The current task is not set in the context.")
    return scope.task


def task_status(scope: Scope, task_id: str, route: int | None = None) -> str:
    """Status of ``task_id`` (``"null"`` if it never ran), on the current route by default."""
    if scope.progress is None:
        return st.UNSET
    if route is None:
        route = scope.task.get("route", 0) if scope.task else 0
    return scope.progress.task_status(task_id, route)


def _own_status(scope: Scope) -> str:
    current = _current_task(scope)
    return task_status(scope, current["id"], current["route"])


def succeeded(scope: Scope) -> bool:
    """Whether the current task succeeded."""
    return _own_status(scope) == st.SUCCEEDED


def failed(scope: Scope) -> bool:
    """Whether the current task failed."""
    return _own_status(scope) == st.FAILED


def completed(scope: Scope) -> bool:
    """Whether the current task completed (succeeded, failed, timed out, abandoned or canceled)."""
    return _own_status(scope) in st.COMPLETED


def result(scope: Scope) -> Any:
    """The current task's result (a with-items task's: the list of its items' results)."""
    return _current_task(scope).get("result")


def item(scope: Scope, key: str | None = None) -> Any:
    """The current item of a with-items task, or one of its named values."""
    current = scope.item
    if isinstance(current, _NoItem):
        current = None
    if not key:
        return current
    if not isinstance(current, Mapping):
        raise ExpressionEvaluationException("Item is not type of collections.abc.Mapping.")
    if key not in current:
        raise ExpressionEvaluationException(f'Item does not have key "{key}".')
    return current[key]


def task(scope: Scope, task_id: str | None = None, route: int | None = None) -> dict[str, Any]:
    """The latest run of a task: ``{task_id, task_name, route, status, result, …}``."""
    current = scope.task or {}
    task_id = task_id if task_id is not None else current.get("id")
    route = route if route is not None else current.get("route", 0)
    record = scope.progress.task_record(str(task_id), int(route)) if scope.progress else None
    if record is None:
        raise ExpressionEvaluationException(f'Unable to find task execution for "{task_id}".')
    return record


def st2kv(scope: Scope, key: Any, **options: Any) -> Any:
    """A datastore value: ``st2kv('k')`` (the user's key), ``st2kv('system.k')``, ``decrypt``, ``default``."""
    if not isinstance(key, str):
        raise TypeError("Given key is not typeof string.")
    decrypt = options.get("decrypt", False)
    if not isinstance(decrypt, bool):
        raise TypeError("Decrypt parameter is not typeof bool.")
    if scope.datastore is None:
        raise ExpressionEvaluationException(
            f'Unable to read "{key}": no datastore is available to this evaluation.'
        )
    st2 = scope.vars.get("st2")
    user = st2.get("user") if isinstance(st2, Mapping) else None
    return scope.datastore(key, decrypt, "default" in options, options.get("default"), user)


#: Functions of the workflow; each takes the :class:`Scope` first.
CONTEXT_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "completed": completed,
    "ctx": ctx,
    "failed": failed,
    "item": item,
    "result": result,
    "st2kv": st2kv,
    "succeeded": succeeded,
    "task": task,
    "task_status": task_status,
}

#: Functions of their arguments only (also Jinja filters).
PLAIN_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {"json": json_, "zip": zip_, **FUNCTIONS}
