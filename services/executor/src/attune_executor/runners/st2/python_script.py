"""``python-script``: a class deriving from StackStorm's ``Action`` in a file of the pack, run by
the pack's own virtual environment (else ``executor.python``) through the shim's wrapper.

The wrapper gets the job on stdin and reports ``run()``'s outcome on its channel, where it may also
use the datastore (``self.action_service``) and dispatch triggers. Result, as StackStorm's:
``{result, exit_code, stdout, stderr}``; a ``(False, result)`` return fails the execution, and an
action that never reported (it crashed, timed out) has the result ``"None"``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.process import action_env, run_process
from attune_executor.runners.shell import missing_script, script_path
from attune_executor.runners.st2.params import prepare
from attune_executor.runners.st2.results import failed, from_process, interruption
from attune_shared.bus import Bus
from attune_shared.datastore import Datastore
from attune_shared.settings import PacksSettings
from attune_shared.st2compat import ACTION_WRAPPER
from attune_shared.st2compat.channel import ParentChannel
from attune_shared.st2compat.services import ChildServices

#: The result of an action that reported none (StackStorm's string).
NO_RESULT = "None"
#: How long the channel may stay open after the process exited (a child of the action holding it).
CHANNEL_GRACE = 2.0


@dataclass(frozen=True)
class ActionSupport:
    """What python actions reach through their parent: the datastore, the bus, the packs' virtualenvs."""

    datastore: Datastore
    bus: Bus
    packs: PacksSettings
    #: longest request line a child may send (a dispatched payload)
    max_request_bytes: int = 2 * 1024 * 1024


class PythonScriptRunner:
    def __init__(self, support: ActionSupport | None) -> None:
        self.support = support

    async def run(self, ctx: RunContext) -> RunResult:
        if self.support is None:
            return _failed(
                ctx, "python-script actions need the executor's datastore and bus (not configured)"
            )
        problem = missing_script(ctx)
        if problem is not None:
            return _failed(ctx, problem.error or "the action file is missing")
        path = script_path(ctx)
        assert path is not None
        params = prepare(ctx)
        python = self.support.packs.python_of(ctx.action.pack_ref) or ctx.settings.python or sys.executable
        lib = path.parents[len(Path(ctx.action.entry_point).parts) - 1] / "lib"  # <pack>/actions/lib
        job = {
            "pack": ctx.action.pack_ref,
            "file": str(path),
            "parameters": params.action,
            "config": ctx.pack.config if ctx.pack else {},
            "log_level": str(params.runner.get("log_level") or "DEBUG"),
            "lib_paths": [str(lib)] if lib.is_dir() else [],
        }
        services = ChildServices(self.support.datastore, self.support.bus, f"action:{ctx.action.ref}")
        parent, child = socket.socketpair()
        channel = ParentChannel(
            parent, services, limit=self.support.max_request_bytes, name=f"execution {ctx.execution.id}"
        )
        server = asyncio.create_task(channel.serve())
        extra = params.runner.get("env") or {}
        env = action_env(ctx, {str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {})
        scratch = tempfile.mkdtemp(prefix=f"attune-{ctx.execution.id}-")
        try:
            argv = [str(python), "-E", "-s", str(ACTION_WRAPPER), "--channel-fd", str(child.fileno())]
            stdin = (json.dumps(job, default=str) + "\n").encode()
            outcome = await run_process(
                ctx, argv, env=env, cwd=scratch, stdin=stdin, pass_fds=(child.fileno(),)
            )
        finally:
            child.close()
            shutil.rmtree(scratch, ignore_errors=True)
            await asyncio.wait({server}, timeout=CHANNEL_GRACE)
            server.cancel()
            parent.close()
        reported = services.result
        error = interruption(ctx, outcome)
        if error is None and outcome.exit_code != 0:
            error = f"the action exited with code {outcome.exit_code} (see stderr)"
        elif error is None and reported.status is False:
            error = "the action returned (False, result)"
        shape: dict[str, Any] = {
            "result": reported.result if reported.reported else NO_RESULT,
            "exit_code": outcome.exit_code,
            "stdout": outcome.stdout.text(),
            "stderr": outcome.stderr.text(),
        }
        return from_process(
            ctx, outcome, shape, succeeded=error is None, error=error, exit_code=outcome.exit_code
        )


def _failed(ctx: RunContext, error: str) -> RunResult:
    return failed(ctx, error, {"result": NO_RESULT, "exit_code": None, "stdout": "", "stderr": ""})
