"""In-process runners: this project's ``builtin`` (entry points ``noop``, ``echo``, ``sleep``) and
StackStorm's ``noop`` (``core.noop``)."""

from __future__ import annotations

import asyncio

from attune_executor.runners.base import Interrupted, RunContext, RunResult, interrupted_result, interruptible


class BuiltinRunner:
    async def run(self, ctx: RunContext) -> RunResult:
        entry = ctx.action.entry_point
        if entry == "noop":
            return RunResult(True, None, ctx.elapsed_ms())
        if entry == "echo":
            message = ctx.params.get("message", "")
            text = message if isinstance(message, str) else str(message)
            return RunResult(True, None, ctx.elapsed_ms(), stdout=text)
        if entry == "sleep":
            seconds = ctx.params.get("seconds", 1)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                return RunResult(False, None, ctx.elapsed_ms(), error="seconds: must be a number >= 0")
            try:
                await interruptible(asyncio.sleep(seconds), ctx)
            except Interrupted as exc:
                return interrupted_result(ctx, exc)
            return RunResult(True, None, ctx.elapsed_ms())
        return RunResult(
            False, None, ctx.elapsed_ms(), error=f"unknown builtin {entry!r} (noop, echo and sleep exist)"
        )


class NoopRunner:
    """StackStorm's ``noop`` runner: succeeds at once, in the executor's process (the fast path)."""

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult(
            True, None, ctx.elapsed_ms(), shape={"failed": False, "succeeded": True, "return_code": 0}
        )
