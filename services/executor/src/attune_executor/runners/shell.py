"""The ``shell`` runner: a script of the pack (``entry_point``), or ``cmd`` with ``/bin/sh -c``
when the entry point is empty (``core.local``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.process import action_env, process_result, run_process


def script_path(ctx: RunContext) -> Path | None:
    """``<pack.path>/actions/<entry_point>``, or ``None`` when the pack has no directory."""
    if ctx.pack is None or not ctx.pack.path:
        return None
    return Path(ctx.pack.path) / "actions" / ctx.action.entry_point


def missing_script(ctx: RunContext) -> RunResult | None:
    path = script_path(ctx)
    if path is None:
        return RunResult(
            False,
            None,
            ctx.elapsed_ms(),
            error=f"pack {ctx.action.pack_ref} has no directory on this executor",
        )
    if not path.is_file():
        return RunResult(False, None, ctx.elapsed_ms(), error=f"action script {path} does not exist")
    return None


class ShellRunner:
    async def run(self, ctx: RunContext) -> RunResult:
        if not ctx.action.entry_point:
            return await self._command(ctx)
        problem = missing_script(ctx)
        if problem is not None:
            return problem
        path = script_path(ctx)
        assert path is not None
        argv = [str(path)] if os.access(path, os.X_OK) else ["/bin/sh", str(path)]
        outcome = await run_process(ctx, argv, env=action_env(ctx), cwd=str(path.parent))
        return process_result(ctx, outcome)

    async def _command(self, ctx: RunContext) -> RunResult:
        cmd, cwd, extra = ctx.params.get("cmd"), ctx.params.get("cwd"), ctx.params.get("env") or {}
        if not isinstance(cmd, str) or not cmd:
            return RunResult(False, None, ctx.elapsed_ms(), error="cmd: a command line is required")
        if not isinstance(extra, dict):
            return RunResult(False, None, ctx.elapsed_ms(), error="env: must be an object of strings")
        if cwd is not None and (not isinstance(cwd, str) or not await asyncio.to_thread(os.path.isdir, cwd)):
            return RunResult(False, None, ctx.elapsed_ms(), error=f"cwd: {cwd!r} is not a directory")
        scratch = None
        if cwd is None:
            scratch = cwd = tempfile.mkdtemp(prefix=f"attune-{ctx.execution.id}-")
        try:
            env = action_env(ctx, {str(k): str(v) for k, v in extra.items()})
            outcome = await run_process(ctx, ["/bin/sh", "-c", cmd], env=env, cwd=str(cwd))
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        return process_result(ctx, outcome)
