"""Execution lifecycle operations shared by the executor and the API.

Every status change is a compare-and-set on the row, committed first, then announced on
``<p>.execution.status.<action_ref>``. An announcement is a notification of a committed row (the
database and ``execution_history`` are authoritative): one that cannot be published is logged,
never raised, so a caller always learns what the database did.

Cancellation protocol: an execution no executor owns yet (requested, scheduling, scheduled) or that
waits for a person (``pending``: an inquiry, cancelled with it) becomes ``cancelled`` at once; a running one becomes ``canceling`` and a cancel request goes out on
``<p>.execution.cancel``; the executor running it — which listens there and also re-checks its
running executions periodically — kills the process and sets ``cancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from attune_shared.bus import Bus, Change, ExecutionRequested, ExecutionStatusChanged
from attune_shared.completion import ended_outside_executor
from attune_shared.errors import RetryableError
from attune_shared.models import Execution
from attune_shared.repos import ExecutionRepository, InquiryRepository, NewExecution, StatusChange
from attune_shared.statuses import PRE_RUN_STATUSES, ExecutionStatus, InquiryStatus
from attune_shared.types import Queryable

log = logging.getLogger("attune.executions")


#: The statuses a start moves an execution through, in order (``ExecutionRepository.start_many``, or
#: an execution created ``running``).
START_STEPS: tuple[Change, ...] = (
    (ExecutionStatus.REQUESTED, ExecutionStatus.SCHEDULING),
    (ExecutionStatus.SCHEDULING, ExecutionStatus.SCHEDULED),
    (ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING),
)


async def announce(bus: Bus, execution: Execution, *changes: Change) -> None:
    """Publish committed status changes of ``execution``, in order. A failure is logged
    (``execution.announce_failed``), never raised: the change is committed, only its notice is lost."""
    await announce_many(bus, ((execution, changes),))


async def announce_many(bus: Bus, changes: Iterable[tuple[Execution, Sequence[Change]]]) -> None:
    """:func:`announce` for many executions, one after the other, all made at one moment. An
    announcement awaits no PubAck (it is buffered for the connection's next write), so a task per
    execution would only add scheduling to each."""
    at = datetime.now(UTC)
    for execution, steps in changes:
        try:
            await bus.execution_status(execution.id, execution.created, execution.action_ref, steps, at)
        except RetryableError as exc:
            log.warning("execution.announce_failed", extra={"execution": execution.id, "error": str(exc)})


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

    def change(self) -> StatusChange:
        """The repository's compare-and-set for this transition."""
        return StatusChange(self.execution.id, self.execution.created, self.expected, self.new, self.changes)


async def transition_many(db: Queryable, bus: Bus, transitions: Sequence[Transition]) -> list[bool]:
    """Compare-and-set many executions in one statement, then announce the winners (each with the
    status it really replaced). One ``won`` per transition, in order; an execution may appear only
    once per call. Call it outside a transaction: the announcements must follow the commit."""
    previous = await ExecutionRepository(db).update_status_many([t.change() for t in transitions])
    await announce_many(
        bus,
        (
            (t.execution, ((old, t.new),))
            for t, old in zip(transitions, previous, strict=True)
            if old is not None
        ),
    )
    return [old is not None for old in previous]


async def transition(db: Queryable, bus: Bus, t: Transition) -> bool:
    """:func:`transition_many` for one execution. True if this call won."""
    return (await transition_many(db, bus, [t]))[0]


async def request(db: Queryable, bus: Bus, new: NewExecution) -> Execution:
    """Create a ``requested`` execution and publish ``execution.requested`` (and its status).

    The row is committed first; if the wake-up cannot be published it is logged, and the
    executor's reconciler publishes it later."""
    execution = await ExecutionRepository(db).create(new)
    await publish_requested(bus, execution)
    return execution


async def publish_requested(bus: Bus, execution: Execution) -> None:
    """Announce a committed ``requested`` execution: its status, then the schedulers' wake-up
    (in that order: a scheduler woken by the request announces ``scheduling`` after it)."""
    await publish_requested_many(bus, [execution])


async def publish_requested_many(bus: Bus, requested: Sequence[Execution]) -> None:
    """:func:`publish_requested` for many executions: their statuses, then their wake-ups published
    together (their PubAcks awaited at once). A wake-up not published is logged: the reconciler
    republishes a ``requested`` execution left untouched."""
    for execution in requested:
        await announce(bus, execution, (None, ExecutionStatus.REQUESTED))
    outcomes = await bus.execution_requested_many(
        [ExecutionRequested(execution_id=x.id, created=x.created, action_ref=x.action_ref) for x in requested]
    )
    for execution, error in zip(requested, outcomes, strict=True):
        if error is not None:
            log.warning(
                "execution.request_not_published", extra={"execution": execution.id, "error": str(error)}
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
        if execution.status in PRE_RUN_STATUSES or execution.status is ExecutionStatus.PENDING:
            ending = Transition(execution, ExecutionStatus.CANCELLED, changes={"result": cancelled_result()})
            if await transition(db, bus, ending):
                if execution.status is ExecutionStatus.PENDING:  # an inquiry nobody answered
                    await InquiryRepository(db).close(execution.id, InquiryStatus.CANCELLED)
                await ended_outside_executor(
                    db, bus, execution, ExecutionStatus.CANCELLED, cancelled_result()
                )
                return CancelResult("cancelled", execution)
        elif execution.status is ExecutionStatus.RUNNING:
            if await transition(db, bus, Transition(execution, ExecutionStatus.CANCELING)):
                try:
                    await bus.cancel_requested(
                        ExecutionStatusChanged(
                            execution_id=execution.id,
                            created=execution.created,
                            action_ref=execution.action_ref,
                            old_status=ExecutionStatus.RUNNING,
                            new_status=ExecutionStatus.CANCELING,
                        )
                    )
                except RetryableError as exc:  # its executor re-reads its runs' statuses periodically
                    log.warning(
                        "execution.cancel_not_sent", extra={"execution": execution.id, "error": str(exc)}
                    )
                return CancelResult("canceling", execution)
        else:
            return CancelResult("finished", execution)
    raise RuntimeError(f"execution {execution_id}: status kept changing while cancelling")
