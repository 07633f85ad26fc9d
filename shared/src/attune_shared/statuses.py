"""Status values (exact strings of the design) and which transitions are legal."""

from __future__ import annotations

from enum import StrEnum


class EnforcementStatus(StrEnum):
    CREATED = "created"
    PROCESSED = "processed"
    DISABLED = "disabled"


class ExecutionStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULING = "scheduling"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"
    #: Waiting for a person (an inquiry, or a workflow one of whose tasks is one).
    PENDING = "pending"
    #: A workflow asked to pause: running tasks finish, no new one starts.
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


class InquiryStatus(StrEnum):
    PENDING = "pending"
    RESPONDED = "responded"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class WorkerStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    BUSY = "busy"
    ERROR = "error"


TERMINAL_STATUSES: frozenset[ExecutionStatus] = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.ABANDONED,
    }
)

#: Statuses an execution may still leave; the reconciler and monitors watch these.
ACTIVE_STATUSES: frozenset[ExecutionStatus] = frozenset(ExecutionStatus) - TERMINAL_STATUSES

#: Statuses before an executor owns the run: cancelling goes straight to `cancelled`.
PRE_RUN_STATUSES: frozenset[ExecutionStatus] = frozenset(
    {ExecutionStatus.REQUESTED, ExecutionStatus.SCHEDULING, ExecutionStatus.SCHEDULED}
)

_S = ExecutionStatus
EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    _S.REQUESTED: frozenset({_S.SCHEDULING, _S.CANCELLED, _S.FAILED, _S.ABANDONED}),
    _S.SCHEDULING: frozenset({_S.SCHEDULED, _S.REQUESTED, _S.CANCELLED, _S.FAILED, _S.ABANDONED}),
    _S.SCHEDULED: frozenset({_S.RUNNING, _S.REQUESTED, _S.CANCELLED, _S.FAILED, _S.ABANDONED}),
    _S.RUNNING: frozenset(
        {_S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELING, _S.ABANDONED, _S.PENDING, _S.PAUSING, _S.PAUSED}
    ),
    _S.CANCELING: frozenset({_S.CANCELLED, _S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.ABANDONED}),
    _S.PENDING: frozenset(
        {_S.RUNNING, _S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELING, _S.CANCELLED, _S.ABANDONED}
    ),
    _S.PAUSING: frozenset(
        {_S.PAUSED, _S.RUNNING, _S.RESUMING, _S.CANCELING, _S.CANCELLED, _S.FAILED, _S.TIMEOUT, _S.ABANDONED}
    ),
    _S.PAUSED: frozenset({_S.RESUMING, _S.RUNNING, _S.CANCELING, _S.CANCELLED, _S.FAILED, _S.COMPLETED}),
    _S.RESUMING: frozenset(
        {_S.RUNNING, _S.PAUSING, _S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELING, _S.CANCELLED}
    ),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.TIMEOUT: frozenset(),
    _S.ABANDONED: frozenset(),
}


def can_transition(old: ExecutionStatus, new: ExecutionStatus) -> bool:
    """Whether ``old -> new`` is a legal execution transition."""
    return new in EXECUTION_TRANSITIONS[old]
