"""Execution lifecycle operations shared by the executor and the API.

Every status change is a compare-and-set on the row, committed first, then announced on
``<p>.execution.status.<action_ref>``. Cancellation protocol: an execution no executor owns yet
(requested, scheduling, scheduled) becomes ``cancelled`` at once; a running one becomes
``canceling`` and a cancel request goes out on ``<p>.execution.cancel``; the executor running it —
which listens there and also re-checks its running executions periodically — kills the process
and sets ``cancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from attune_shared.bus import Bus, ExecutionRequested, ExecutionStatusChanged, gather_bounded
from attune_shared.errors import RetryableError
from attune_shared.models import Execution
from attune_shared.repos import ExecutionRepository, NewExecution, StatusChange
from attune_shared.statuses import PRE_RUN_STATUSES, ExecutionStatus
from attune_shared.types import Queryable

log = logging.getLogger("attune.executions")


async def announce(bus: Bus, execution: Execution, old: ExecutionStatus | None, new: ExecutionStatus) -> None:
    """Publish a status change that has been committed."""
    await bus.execution_status(
        ExecutionStatusChanged(
            execution_id=execution.id,
            created=execution.created,
            action_ref=execution.action_ref,
            old_status=old,
            new_status=new,
        )
    )


async def transition(
    db: Queryable,
    bus: Bus,
    execution: Execution,
    new: ExecutionStatus,
    *,
    old: ExecutionStatus | Collection[ExecutionStatus] | None = None,
    **changes: Any,
) -> bool:
    """CAS ``old`` (default: ``execution.status``) -> ``new``, then announce it. True if this call won.

    Call it outside a transaction (or after committing one): the announcement must follow the commit.
    """
    expected = execution.status if old is None else old
    won = await ExecutionRepository(db).update_status(
        execution.id, execution.created, expected, new, **changes
    )
    if won:
        previous = expected if isinstance(expected, ExecutionStatus) else execution.status
        await announce(bus, execution, previous, new)
    return won


@dataclass(frozen=True)
class Transition:
    """One change of :func:`transition_many`: ``old`` (default ``execution.status``) -> ``new``,
    also setting ``changes`` (``result``, ``worker``, ``started_at``)."""

    execution: Execution
    new: ExecutionStatus
    old: ExecutionStatus | Collection[ExecutionStatus] | None = None
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> tuple[ExecutionStatus, ...]:
        old = self.execution.status if self.old is None else self.old
        return (old,) if isinstance(old, ExecutionStatus) else tuple(old)


async def transition_many(
    db: Queryable, bus: Bus, transitions: Sequence[Transition], *, quiet: bool = False
) -> list[bool]:
    """:func:`transition` for many executions: one statement, then the winners are announced
    (each with the status it really replaced). One ``won`` per transition, in order; an execution
    may appear only once per call. With ``quiet``, a failed announcement is logged instead of
    raised, so the caller always learns what the database did."""
    previous = await ExecutionRepository(db).update_status_many(
        [StatusChange(t.execution.id, t.execution.created, t.expected, t.new, t.changes) for t in transitions]
    )
    await gather_bounded(
        _announce(bus, t.execution, [(old, t.new)], quiet)
        for t, old in zip(transitions, previous, strict=True)
        if old is not None
    )
    return [old is not None for old in previous]


#: The statuses :func:`start_many` moves an execution through, in order.
START_STEPS = (
    (ExecutionStatus.REQUESTED, ExecutionStatus.SCHEDULING),
    (ExecutionStatus.SCHEDULING, ExecutionStatus.SCHEDULED),
    (ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING),
)


async def start_many(
    db: Queryable,
    bus: Bus,
    keys: Sequence[tuple[int, datetime]],
    worker: int,
    started_at: datetime,
    *,
    quiet: bool = False,
) -> list[Execution]:
    """Claim, schedule and start the ``requested`` executions of ``keys`` (``(id, created)``) that
    need no policy decision, in one round trip; each of the three changes is in
    ``execution_history`` and announced in order. Returns the executions now ``running`` on
    ``worker``. ``quiet`` as for :func:`transition_many`."""
    running = await ExecutionRepository(db).start_many(keys, worker, started_at)
    await gather_bounded(announce_start(bus, x, quiet=quiet) for x in running)
    return running


async def announce_start(bus: Bus, execution: Execution, *, quiet: bool = False) -> None:
    """Announce the three changes of a start (:func:`start_many`), in order."""
    await _announce(bus, execution, START_STEPS, quiet)


async def _announce(
    bus: Bus,
    execution: Execution,
    steps: Sequence[tuple[ExecutionStatus | None, ExecutionStatus]],
    quiet: bool,
) -> None:
    try:
        for old, new in steps:
            await announce(bus, execution, old, new)
    except RetryableError as exc:
        if not quiet:
            raise
        log.warning("execution.announce_failed", extra={"execution": execution.id, "error": str(exc)})


async def request(db: Queryable, bus: Bus, new: NewExecution) -> Execution:
    """Create a ``requested`` execution and publish ``execution.requested`` (and its status)."""
    execution = await ExecutionRepository(db).create(new)
    await publish_requested(bus, execution)
    return execution


async def publish_requested(bus: Bus, execution: Execution) -> None:
    """Announce a ``requested`` execution: the wake-up for the schedulers, and the status change."""
    # the status first: a scheduler woken by the request announces `scheduling` after it
    await announce(bus, execution, None, ExecutionStatus.REQUESTED)
    await bus.execution_requested(
        ExecutionRequested(
            execution_id=execution.id, created=execution.created, action_ref=execution.action_ref
        )
    )


def cancelled_result(reason: str = "cancelled by user") -> dict[str, Any]:
    """The result stored on an execution cancelled before or while it ran."""
    return {"succeeded": False, "cancelled": True, "error": reason}


CancelOutcome = Literal["cancelled", "canceling", "finished"]


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    execution: Execution


async def cancel(db: Queryable, bus: Bus, execution_id: int) -> CancelResult | None:
    """Cancel an execution (see the module docstring). ``None`` if it does not exist.

    ``finished``: it was already terminal (or canceling); nothing changed.
    """
    repo = ExecutionRepository(db)
    for _ in range(10):  # the status may move under us; re-read and try again
        execution = await repo.get(execution_id)
        if execution is None:
            return None
        if execution.status in PRE_RUN_STATUSES:
            if await transition(db, bus, execution, ExecutionStatus.CANCELLED, result=cancelled_result()):
                return CancelResult("cancelled", execution)
        elif execution.status is ExecutionStatus.RUNNING:
            if await transition(db, bus, execution, ExecutionStatus.CANCELING):
                await bus.cancel_requested(
                    ExecutionStatusChanged(
                        execution_id=execution.id,
                        created=execution.created,
                        action_ref=execution.action_ref,
                        old_status=ExecutionStatus.RUNNING,
                        new_status=ExecutionStatus.CANCELING,
                    )
                )
                return CancelResult("canceling", execution)
        else:
            return CancelResult("finished", execution)
    raise RuntimeError(f"execution {execution_id}: status kept changing while cancelling")
