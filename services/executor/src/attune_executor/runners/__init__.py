"""Action runners by ``runner_type``: this project's own (builtin in-process, shell and python
child processes, http) and StackStorm's (local-shell-cmd/-script, python-script, http-request,
noop). A StackStorm runner this executor does not run fails the execution naming it."""

from __future__ import annotations

from attune_executor.runners.base import RunContext, Runner, RunResult
from attune_executor.runners.builtin import BuiltinRunner, NoopRunner
from attune_executor.runners.http import HttpRunner
from attune_executor.runners.python import PythonRunner
from attune_executor.runners.shell import ShellRunner
from attune_executor.runners.st2.http_request import HttpRequestRunner
from attune_executor.runners.st2.local import LocalShellRunner
from attune_executor.runners.st2.python_script import ActionSupport, PythonScriptRunner
from attune_shared.runner_types import stackstorm_runner


class Runners:
    """One runner per runner type, shared by every run of this executor. ``support`` gives python
    actions the datastore and the bus (without it, python-script actions fail saying so)."""

    def __init__(self, support: ActionSupport | None = None) -> None:
        self.http = HttpRunner()
        local = LocalShellRunner()
        self.by_type: dict[str, Runner] = {
            "builtin": BuiltinRunner(),
            "shell": ShellRunner(),
            "python": PythonRunner(),
            "http": self.http,
            "noop": NoopRunner(),
            "local-shell-cmd": local,
            "local-shell-script": local,
            "python-script": PythonScriptRunner(support),
            "http-request": HttpRequestRunner(),
        }

    async def run(self, ctx: RunContext) -> RunResult:
        runner = self.by_type.get(ctx.action.runner_type)
        if runner is not None:
            return await runner.run(ctx)
        spec = stackstorm_runner(ctx.action.runner_type)
        error = spec.unavailable() if spec is not None else f"unknown runner type {ctx.action.runner_type!r}"
        return RunResult(False, None, ctx.elapsed_ms(), error=error)

    async def close(self) -> None:
        await self.http.close()


__all__ = ["ActionSupport", "RunContext", "RunResult", "Runner", "Runners"]
