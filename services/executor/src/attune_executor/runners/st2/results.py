"""StackStorm's result shapes, from a finished child process."""

from __future__ import annotations

import json
from typing import Any

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.process import ProcessOutcome


def interruption(ctx: RunContext, outcome: ProcessOutcome) -> str | None:
    """Why the process did not run to its end (StackStorm's timeout message), or ``None``."""
    if outcome.timed_out:
        return f"Action failed to complete in {ctx.timeout:g} seconds"
    if outcome.stopped:
        return "cancelled; the process group was killed"
    return outcome.error


def from_process(
    ctx: RunContext,
    outcome: ProcessOutcome,
    shape: dict[str, Any],
    *,
    succeeded: bool,
    error: str | None,
    exit_code: int | None,
) -> RunResult:
    """The run's result: ``shape`` (plus ``error`` when there is one) and the process's flags."""
    if error is not None:
        shape["error"] = error
    return RunResult(
        succeeded,
        exit_code,
        ctx.elapsed_ms(),
        timed_out=outcome.timed_out,
        cancelled=outcome.stopped,
        stdout_truncated=outcome.stdout.truncated,
        stderr_truncated=outcome.stderr.truncated,
        shape=shape,
    )


def failed(ctx: RunContext, error: str, shape: dict[str, Any]) -> RunResult:
    """A run that never started: ``shape`` with ``error``."""
    return RunResult(False, None, ctx.elapsed_ms(), error=error, shape={**shape, "error": error})


def strip_shell_chars(text: str) -> str:
    """One trailing newline, then one trailing carriage return, removed (StackStorm's rule)."""
    text = text.removesuffix("\n")
    return text.removesuffix("\r")


def json_or_text(text: str) -> Any:
    """``text`` decoded as JSON when it is JSON (``echo 123`` gives 123), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
