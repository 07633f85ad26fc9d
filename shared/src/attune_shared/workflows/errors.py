"""Errors of the workflow language.

Expression errors keep Orquesta's class names: a workflow's ``result.errors`` shows them as
``"<ClassName>: <message>"`` (``YaqlEvaluationException: Unable to evaluate expression …``), and
StackStorm users search for those exact texts.
"""

from __future__ import annotations

from collections.abc import Sequence

from attune_shared.errors import AttuneError


class WorkflowError(AttuneError):
    """Base of the workflow library's errors."""


class ExpressionEvaluationException(WorkflowError):
    """An expression (or a function it called) could not be evaluated."""


class YaqlEvaluationException(ExpressionEvaluationException):
    """A ``<% %>`` expression failed."""


class JinjaEvaluationException(ExpressionEvaluationException):
    """A ``{{ }}`` expression failed."""


class VariableUndefinedError(ExpressionEvaluationException):
    """``ctx(name)`` of a name the context does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(f'The variable "{name}" is undefined.')


class VariableInaccessibleError(ExpressionEvaluationException):
    """``ctx(name)`` of an internal (``__``-prefixed) name."""

    def __init__(self, name: str) -> None:
        super().__init__(f'The variable "{name}" is for internal use and inaccessible.')


class UnreachableJoinError(WorkflowError):
    """A join would wait forever: the workflow ended with the join partially satisfied."""

    def __init__(self, task_id: str, route: int) -> None:
        super().__init__(f'The join task|route "{task_id}|{route}" is partially satisfied but unreachable.')


class WorkflowStateError(WorkflowError):
    """A request the workflow's status does not allow (pausing a completed workflow, …)."""


class ResultsNeeded(WorkflowError):
    """The step needs the results of these children (dispatch keys); call it again with them.

    The conductor never reads a database: when an expression asks for ``task(name)`` or a
    with-items task completes (``result()`` is every item's result), it names the children
    whose results it needs. The step is pure, so the engine loads them and repeats the call
    with :class:`~attune_shared.workflows.conductor.Runtime` ``results`` filled in.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        super().__init__(f"results needed for {', '.join(self.keys)}")


class KeyNeeded(ResultsNeeded):
    """``st2kv()`` read a datastore key the step was not given: load it and call the step again.

    ``key`` is ``(scope, owner, name)`` (the owner is the user of a ``user``-scoped key)."""

    def __init__(self, scope: str, owner: str, name: str) -> None:
        self.key = (scope, owner, name)
        super().__init__([])
        self.args = (f"datastore key {scope}:{owner}:{name} needed",)
