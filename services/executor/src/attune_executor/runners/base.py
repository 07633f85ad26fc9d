"""What every runner gets (:class:`RunContext`) and returns (:class:`RunResult`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from attune_shared.models import Action, Execution, Pack
from attune_shared.settings import ExecutorSettings
from attune_shared.statuses import ExecutionStatus

T = TypeVar("T")


@dataclass
class RunContext:
    """One action run: the execution, its action (and pack), parameters and limits."""

    execution: Execution
    action: Action
    pack: Pack | None
    params: dict[str, Any]
    #: seconds the run may take
    timeout: float
    settings: ExecutorSettings
    #: set to stop the run (cancel, or shutdown)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass
class RunResult:
    """The result contract: ``{succeeded, exit_code, duration_ms, stdout, stderr, data}`` plus
    ``error``, ``timed_out``, ``cancelled`` and the truncation flags when they apply."""

    succeeded: bool
    exit_code: int | None
    duration_ms: int
    stdout: str = ""
    stderr: str = ""
    data: Any = None
    error: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    #: the result as a StackStorm runner shapes it (``{succeeded, failed, return_code, stdout,
    #: stderr}``, ``{result, exit_code, stdout, stderr}``…): it replaces this project's own fields,
    #: ``duration_ms`` and the flags are added
    shape: dict[str, Any] | None = None

    @property
    def status(self) -> ExecutionStatus:
        if self.cancelled:
            return ExecutionStatus.CANCELLED
        if self.timed_out:
            return ExecutionStatus.TIMEOUT
        return ExecutionStatus.COMPLETED if self.succeeded else ExecutionStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = (
            {**self.shape, "duration_ms": self.duration_ms}
            if self.shape is not None
            else {
                "succeeded": self.succeeded,
                "exit_code": self.exit_code,
                "duration_ms": self.duration_ms,
                "stdout": self.stdout,
                "stderr": self.stderr,
                "data": self.data,
            }
        )
        if self.error is not None:
            result["error"] = self.error
        for flag in ("timed_out", "cancelled", "stdout_truncated", "stderr_truncated"):
            if getattr(self, flag):
                result[flag] = True
        return result


class Runner(Protocol):
    async def run(self, ctx: RunContext) -> RunResult: ...


class Interrupted(Exception):
    """The run was stopped (``timed_out`` False: cancelled or shut down)."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "stopped")
        self.timed_out = timed_out


async def interruptible(work: Awaitable[T], ctx: RunContext) -> T:
    """Await in-process ``work`` unless the run times out or is stopped first (then it is cancelled
    and :class:`Interrupted` raised)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(ctx.stop.wait())
    remaining = max(ctx.timeout - (time.monotonic() - ctx.started), 0.0)
    try:
        done, _ = await asyncio.wait({task, stop}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        stop.cancel()
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    raise Interrupted(timed_out=stop not in done)


def interrupted_result(ctx: RunContext, exc: Interrupted, **fields: Any) -> RunResult:
    """The result of an in-process run that was stopped."""
    if exc.timed_out:
        return RunResult(
            False,
            None,
            ctx.elapsed_ms(),
            timed_out=True,
            error=f"timed out after {ctx.timeout:g} s",
            **fields,
        )
    return RunResult(False, None, ctx.elapsed_ms(), cancelled=True, error="cancelled", **fields)
