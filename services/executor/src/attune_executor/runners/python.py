"""The ``python`` runner: the pack's script (``entry_point``) run by ``executor.python``."""

from __future__ import annotations

import sys

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.process import action_env, process_result, run_process
from attune_executor.runners.shell import missing_script, script_path


class PythonRunner:
    async def run(self, ctx: RunContext) -> RunResult:
        problem = missing_script(ctx)
        if problem is not None:
            return problem
        path = script_path(ctx)
        assert path is not None
        interpreter = ctx.settings.python or sys.executable
        # -E: ignore PYTHON* variables, -s: no user site-packages; the script's directory stays importable
        argv = [interpreter, "-E", "-s", str(path)]
        outcome = await run_process(ctx, argv, env=action_env(ctx), cwd=str(path.parent))
        return process_result(ctx, outcome)
