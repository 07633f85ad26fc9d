"""Orquesta's status names (inside the conductor) and how they map to execution statuses.

The conductor speaks Orquesta internally (``succeeded``, ``canceled``, ``retrying`` …) because
expressions show those strings (``task_status(t) == 'succeeded'``); at its boundary children
and workflows have this project's :class:`~attune_shared.statuses.ExecutionStatus`.
"""

from __future__ import annotations

from typing import Final

from attune_shared.statuses import ExecutionStatus

REQUESTED: Final = "requested"
SCHEDULED: Final = "scheduled"
DELAYED: Final = "delayed"
RUNNING: Final = "running"
PENDING: Final = "pending"
PAUSING: Final = "pausing"
PAUSED: Final = "paused"
RESUMING: Final = "resuming"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMEOUT: Final = "timeout"
ABANDONED: Final = "abandoned"
RETRYING: Final = "retrying"
CANCELING: Final = "canceling"
CANCELED: Final = "canceled"
UNSET: Final = "null"

STARTING: Final = frozenset({REQUESTED, SCHEDULED, DELAYED, RUNNING, PENDING})
RUNNING_SET: Final = frozenset({REQUESTED, SCHEDULED, DELAYED, RUNNING, RESUMING, RETRYING})
ACTIVE: Final = frozenset({REQUESTED, SCHEDULED, DELAYED, RUNNING, RESUMING, PAUSING, CANCELING})
PAUSE: Final = frozenset({PAUSING, PAUSED})
CANCEL: Final = frozenset({CANCELING, CANCELED})
ABENDED: Final = frozenset({FAILED, TIMEOUT, ABANDONED})
COMPLETED: Final = frozenset({SUCCEEDED, FAILED, TIMEOUT, ABANDONED, CANCELED})

_E = ExecutionStatus

#: A child execution's status as the conductor's event status (``None``: not an event).
FROM_EXECUTION: Final[dict[ExecutionStatus, str]] = {
    _E.COMPLETED: SUCCEEDED,
    _E.FAILED: FAILED,
    _E.TIMEOUT: TIMEOUT,
    _E.ABANDONED: ABANDONED,
    _E.CANCELLED: CANCELED,
    _E.PENDING: PENDING,
    _E.PAUSED: PAUSED,
    _E.RUNNING: RUNNING,
    _E.RESUMING: RUNNING,
}

#: A workflow's Orquesta status as its execution status.
TO_EXECUTION: Final[dict[str, ExecutionStatus]] = {
    REQUESTED: _E.REQUESTED,
    SCHEDULED: _E.SCHEDULED,
    DELAYED: _E.SCHEDULED,
    RUNNING: _E.RUNNING,
    PENDING: _E.PENDING,
    PAUSING: _E.PAUSING,
    PAUSED: _E.PAUSED,
    RESUMING: _E.RESUMING,
    SUCCEEDED: _E.COMPLETED,
    FAILED: _E.FAILED,
    TIMEOUT: _E.TIMEOUT,
    ABANDONED: _E.ABANDONED,
    CANCELING: _E.CANCELING,
    CANCELED: _E.CANCELLED,
}
