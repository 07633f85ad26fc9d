"""Action runners by ``runner_type``: builtin (in-process), shell and python (child processes), http."""

from __future__ import annotations

from attune_executor.runners.base import RunContext, Runner, RunResult
from attune_executor.runners.builtin import BuiltinRunner
from attune_executor.runners.http import HttpRunner
from attune_executor.runners.python import PythonRunner
from attune_executor.runners.shell import ShellRunner


class Runners:
    """One runner per runner type, shared by every run of this executor."""

    def __init__(self) -> None:
        self.http = HttpRunner()
        self.by_type: dict[str, Runner] = {
            "builtin": BuiltinRunner(),
            "shell": ShellRunner(),
            "python": PythonRunner(),
            "http": self.http,
        }

    async def run(self, ctx: RunContext) -> RunResult:
        runner = self.by_type.get(ctx.action.runner_type)
        if runner is None:
            return RunResult(
                False, None, ctx.elapsed_ms(), error=f"unknown runner type {ctx.action.runner_type!r}"
            )
        return await runner.run(ctx)

    async def close(self) -> None:
        await self.http.close()


__all__ = ["RunContext", "RunResult", "Runner", "Runners"]
