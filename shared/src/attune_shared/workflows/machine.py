"""How task and workflow statuses move, as Orquesta's state machines move them.

Each function answers "what is the new status" (``None``: unchanged) for one kind of event:
an action event on a task, an item event on a with-items task, a workflow request reaching a
task, a task event reaching the workflow, a request reaching the workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from attune_shared.workflows.statuses import (
    ABANDONED,
    ABENDED,
    ACTIVE,
    CANCELED,
    CANCELING,
    COMPLETED,
    DELAYED,
    FAILED,
    PAUSED,
    PAUSING,
    PENDING,
    REQUESTED,
    RESUMING,
    RETRYING,
    RUNNING,
    SCHEDULED,
    SUCCEEDED,
    TIMEOUT,
    UNSET,
)

#: Engine commands as task events.
CONTINUE: Final = "continue"
NOOP: Final = "noop"
FAIL: Final = "fail"
RETRY: Final = "retry"

_STARTING: Final = {
    REQUESTED: REQUESTED,
    SCHEDULED: SCHEDULED,
    DELAYED: DELAYED,
    RUNNING: RUNNING,
    PENDING: PENDING,
}
_INTERRUPTS: Final = {PAUSING: PAUSING, PAUSED: PAUSED, CANCELING: CANCELING, CANCELED: CANCELED}
_ENDS: Final = {FAILED: FAILED, TIMEOUT: FAILED, ABANDONED: FAILED, SUCCEEDED: SUCCEEDED, CANCELED: CANCELED}

_ACTION: Final[dict[str, dict[str, str]]] = {
    UNSET: {**_STARTING, CONTINUE: SUCCEEDED, NOOP: SUCCEEDED, FAIL: FAILED},
    **{
        waiting: {**{k: v for k, v in _STARTING.items() if k != waiting}, **_INTERRUPTS}
        | {FAILED: FAILED, TIMEOUT: TIMEOUT, ABANDONED: ABANDONED}
        for waiting in (REQUESTED, SCHEDULED, DELAYED)
    },
    RUNNING: {RUNNING: RUNNING, PENDING: PENDING, **_INTERRUPTS, **_ENDS},
    PENDING: {CANCELED: CANCELED, FAILED: FAILED, TIMEOUT: FAILED, ABANDONED: FAILED, SUCCEEDED: SUCCEEDED},
    PAUSING: {PAUSED: PAUSED, RESUMING: RESUMING, CANCELING: CANCELING, CANCELED: CANCELED}
    | {FAILED: FAILED, TIMEOUT: FAILED, ABANDONED: FAILED},
    PAUSED: {RUNNING: RUNNING, RESUMING: RESUMING, CANCELING: CANCELING, CANCELED: CANCELED},
    RESUMING: {RUNNING: RUNNING, CANCELING: CANCELING, CANCELED: CANCELED},
    RETRYING: {RUNNING: RUNNING, CANCELING: CANCELING, CANCELED: CANCELED},
    CANCELING: {PAUSED: CANCELED, CANCELED: CANCELED, FAILED: FAILED, TIMEOUT: FAILED, ABANDONED: FAILED},
    SUCCEEDED: {RETRY: RETRYING},
    FAILED: {RETRY: RETRYING},
}


def task_on_action(current: str, event: str) -> str | None:
    """A (non-item) task's status after an action or engine event."""
    return _ACTION.get(current, {}).get(event)


_ITEM_EVENTS: Final = frozenset({RESUMING, PENDING, PAUSED, SUCCEEDED, FAILED, TIMEOUT, ABANDONED, CANCELED})


def _items_situation(others: Sequence[str]) -> tuple[bool, str]:
    """Whether other items are active, and what the rest are: paused, canceled, failed, incomplete, completed."""
    if any(status in ACTIVE for status in others):
        return True, "incomplete"
    if any(status in (PENDING, PAUSED) for status in others):
        return False, "paused"
    if CANCELED in others:
        return False, "canceled"
    if any(status in ABENDED for status in others):
        return False, "failed"
    return False, "incomplete" if any(status not in COMPLETED for status in others) else "completed"


def task_on_item(current: str, event: str, others: Sequence[str]) -> str | None:
    """A with-items task's status after one item's event; ``others`` are the other items' statuses."""
    if event not in _ITEM_EVENTS:
        return task_on_action(current, event) if event in (RUNNING, CANCELING, PAUSING) else None
    active, rest = _items_situation(others)
    if event == RESUMING:
        return None
    ended = FAILED if event in ABENDED else event
    if current == RUNNING:
        if active:
            return {PENDING: PAUSING, PAUSED: PAUSING, CANCELED: CANCELING, SUCCEEDED: RUNNING}.get(ended)
        if ended in (PENDING, PAUSED):
            return {"canceled": CANCELED, "failed": FAILED}.get(rest, PAUSED)
        if ended == CANCELED:
            return CANCELED
        if ended == FAILED:
            return CANCELED if rest == "canceled" else FAILED
        return {"canceled": CANCELED, "paused": PAUSED, "failed": FAILED, "incomplete": RUNNING}.get(
            rest, SUCCEEDED
        )
    if current == PAUSING and not active:
        if ended in (PENDING, PAUSED):
            return {"canceled": CANCELED, "failed": FAILED}.get(rest, PAUSED)
        if ended == CANCELED:
            return CANCELED
        if ended == FAILED:
            return CANCELED if rest == "canceled" else FAILED
        return {"canceled": CANCELED, "failed": FAILED, "completed": SUCCEEDED}.get(rest, PAUSED)
    if current == CANCELING and not active:
        return SUCCEEDED if ended == SUCCEEDED and rest == "completed" else CANCELED
    return None


def task_on_request(current: str, requested: str, items: Sequence[str] | None) -> str | None:
    """A task's status when the workflow is asked to pause or cancel (only with-items tasks move)."""
    if items is None or current != RUNNING or requested not in (PAUSING, PAUSED, CANCELING, CANCELED):
        return None
    if all(status in COMPLETED for status in items):
        return None
    active = any(status in ACTIVE for status in items)
    if requested in (PAUSING, PAUSED):
        return PAUSING if active else PAUSED
    return CANCELING if active else CANCELED


def workflow_on_task(current: str, event: str, active: bool, situation: str) -> str | None:
    """The workflow's status after a task event.

    ``event`` is the task's status, or ``"remediated"`` for an abended task with a next task;
    ``situation`` (for succeeded and remediated) is ``canceled``, ``paused``, ``incomplete`` or
    ``completed``: whether other tasks are canceling, pausing, still to run, or all done.
    """
    if event in ABENDED:
        event = FAILED
    finished = event in (SUCCEEDED, "remediated")
    if current == RUNNING:
        if event == FAILED:
            return FAILED
        if finished:
            if active:
                return {"paused": PAUSING, "canceled": CANCELING}.get(situation, RUNNING)
            return {"completed": SUCCEEDED, "paused": PAUSED, "canceled": CANCELED}.get(situation, RUNNING)
        return _interrupted(event, active, paused_if_active=RUNNING)
    if current == PAUSING:
        if event == FAILED:
            return FAILED
        if finished:
            if active:
                return CANCELING if event == "remediated" and situation == "canceled" else PAUSING
            return CANCELED if situation == "canceled" else PAUSED
        if event == RETRYING:
            return PAUSING if active else PAUSED
        return _interrupted(event, active, paused_if_active=PAUSING)
    if current == PAUSED:
        return RUNNING if event in (RUNNING, RESUMING) else None
    if current == RESUMING:
        if event == RUNNING:
            return RUNNING
        if event == FAILED:
            return FAILED
        if finished:
            if active:
                return RUNNING if situation in ("incomplete", "completed") else None
            return {"completed": SUCCEEDED, "paused": PAUSED, "canceled": CANCELED}.get(situation, RUNNING)
        return None if event == PAUSED else _interrupted(event, active, paused_if_active=None)
    if current == CANCELING:
        if event in (PENDING, PAUSED, FAILED, CANCELED, RETRYING) or finished:
            return CANCELING if active else CANCELED
    return None


def _interrupted(event: str, active: bool, paused_if_active: str | None) -> str | None:
    if event == PENDING:
        return PAUSING if active else PAUSED
    if event == PAUSED:
        return paused_if_active if active else PAUSED
    if event == PAUSING and paused_if_active == RUNNING:
        return RUNNING
    if event == CANCELING:
        return CANCELING
    if event == CANCELED:
        return CANCELING if active else CANCELED
    return None


def workflow_on_request(current: str, requested: str, active: bool, finished: bool) -> str | None:
    """The workflow's status after a request (run, pause, resume, cancel, fail).

    ``finished``: paused with nothing active, staged or pending, so resuming completes it.
    """
    if requested == FAILED:
        return FAILED if current not in (FAILED, CANCELED) else None
    if requested in (PAUSING, PAUSED):
        if current in (RUNNING, PAUSING, RESUMING):
            return PAUSING if active else PAUSED
        return PAUSED if current in (REQUESTED, SCHEDULED, DELAYED) and not active else None
    if requested in (CANCELING, CANCELED):
        if current in (RUNNING, PAUSING, RESUMING, CANCELING):
            return CANCELING if active else CANCELED
        return CANCELED if current in (REQUESTED, SCHEDULED, DELAYED, PAUSED) and not active else None
    if requested == RUNNING:
        if current == PAUSED and finished:
            return SUCCEEDED
        return (
            RUNNING if current in (UNSET, REQUESTED, SCHEDULED, DELAYED, PAUSING, PAUSED, RESUMING) else None
        )
    if requested == RESUMING:
        if current == PAUSED:
            return SUCCEEDED if finished else RESUMING
        return RESUMING if current == PAUSING else None
    if requested == REQUESTED:
        return REQUESTED if current == UNSET else None
    if requested == SUCCEEDED:
        return SUCCEEDED if current == RUNNING else None
    return None
