"""Orquesta workflows as a pure library: the language, inspection, expressions and the conductor.

No database and no bus: the engine stores :attr:`Step.state` (JSON) and starts
:attr:`Step.dispatches`; see ``docs/workflows.md``.
"""

from attune_shared.workflows.conductor import (
    Dispatch,
    Runtime,
    Step,
    active_dispatches,
    cancel,
    child_changed,
    dispatch_failed,
    dispatch_key,
    pause,
    resume,
    start,
)
from attune_shared.workflows.errors import (
    ExpressionEvaluationException,
    ResultsNeeded,
    WorkflowError,
    WorkflowStateError,
)
from attune_shared.workflows.expressions import evaluate
from attune_shared.workflows.functions import Scope
from attune_shared.workflows.inspection import Catalog, inspect
from attune_shared.workflows.spec import WorkflowSpec, load_workflow

__all__ = [
    "Catalog",
    "Dispatch",
    "ExpressionEvaluationException",
    "ResultsNeeded",
    "Runtime",
    "Scope",
    "Step",
    "WorkflowError",
    "WorkflowSpec",
    "WorkflowStateError",
    "active_dispatches",
    "cancel",
    "child_changed",
    "dispatch_failed",
    "dispatch_key",
    "evaluate",
    "inspect",
    "load_workflow",
    "pause",
    "resume",
    "start",
]
