"""``local-shell-cmd`` and ``local-shell-script``: a command line, or a script of the pack with its
arguments as StackStorm passes them, run by ``/bin/sh -c``.

Script arguments: every action parameter with a ``position`` comes in position order after the
named ones, serialized by type (booleans ``1``/``0``, arrays comma-joined, objects as JSON, a falsy
value of another type as an empty argument); every other action parameter is named,
``<kwarg_op><name>=<value>`` in name order (``None`` and ``""`` left out, ``True`` a bare flag,
``False`` left out, lists and objects as Python writes them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.process import ProcessOutcome, action_env, run_process
from attune_executor.runners.shell import missing_script, script_path
from attune_executor.runners.st2.params import SplitParameters, prepare
from attune_executor.runners.st2.results import (
    failed,
    from_process,
    interruption,
    json_or_text,
    strip_shell_chars,
)
from attune_shared.runner_types import runner_parameter_names

#: StackStorm's return code of a timed-out command.
TIMEOUT_RETURN_CODE = -9


class LocalShellRunner:
    async def run(self, ctx: RunContext) -> RunResult:
        params = prepare(ctx)
        if ctx.action.runner_type == "local-shell-script":
            problem = missing_script(ctx)
            if problem is not None:
                return _failed(ctx, problem.error or "the script is missing")
            path = script_path(ctx)
            assert path is not None
            command = script_command(path, params, ctx.action.parameters_schema, ctx.action.runner_type)
        else:
            cmd = params.runner.get("cmd")
            if not isinstance(cmd, str) or not cmd:
                return _failed(ctx, "cmd: a command line is required")
            command = cmd
        sudo, password = params.runner.get("sudo") is True, params.runner.get("sudo_password")
        if sudo and not ctx.settings.allow_sudo:
            return _failed(
                ctx,
                "sudo is not allowed on this executor (set ATTUNE__EXECUTOR__ALLOW_SUDO=true and give the "
                "executor's user passwordless sudo to allow it)",
            )
        argv = ["/bin/sh", "-c", command]
        if sudo:
            argv = ["sudo", "-S" if password else "-n", "-E", "--", *argv]
        extra = params.runner.get("env") or {}
        if not isinstance(extra, dict):
            return _failed(ctx, "env: must be an object")
        cwd = params.runner.get("cwd")
        if cwd is not None and (not isinstance(cwd, str) or not await asyncio.to_thread(os.path.isdir, cwd)):
            return _failed(ctx, f"cwd: {cwd!r} is not a directory")
        scratch = None
        if cwd is None:
            scratch = cwd = tempfile.mkdtemp(prefix=f"attune-{ctx.execution.id}-")
        try:
            env = action_env(ctx, {str(k): str(v) for k, v in extra.items()})
            stdin = f"{password}\n".encode() if sudo and password else b""
            outcome = await run_process(ctx, argv, env=env, cwd=cwd, stdin=stdin)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        return shell_result(ctx, outcome)


def script_command(path: Path, params: SplitParameters, schema: dict[str, Any], runner_type: str) -> str:
    """The shell command line of a script action: interpreter (when the file is not executable),
    script, named arguments, positional arguments; every word quoted."""
    properties: dict[str, Any] = schema.get("properties") or {}
    runner = runner_parameter_names(runner_type)
    positions = sorted(
        (spec["position"], name)
        for name, spec in properties.items()
        if name not in runner and isinstance(spec, dict) and isinstance(spec.get("position"), int | float)
    )
    positional = {name for _, name in positions}
    kwarg_op = str(params.runner.get("kwarg_op", "--"))
    named: list[str] = []
    for name in sorted(params.action):  # a stored schema keeps no key order: by name, always the same
        value = params.action[name]
        if name in positional or value is None or value == "":
            continue
        if isinstance(value, bool):
            if value:
                named.append(shlex.quote(f"{kwarg_op}{name}"))
            continue
        named.append(shlex.quote(f"{kwarg_op}{name}={value}"))
    words = [*(shlex.quote(w) for w in _interpreter(path)), shlex.quote(str(path)), *named]
    words += [
        shlex.quote(_positional(properties[name].get("type"), params.action.get(name)))
        for _, name in positions
    ]
    return " ".join(words)


def _positional(kind: Any, value: Any) -> str:
    if kind in ("string", "number", "float"):
        return "" if value is None else str(value)
    if kind == "boolean":
        return "" if value is None else ("1" if value else "0")
    if kind in ("array", "list"):
        return ",".join(map(str, value)) if value else ""
    if kind == "object":
        return json.dumps(value) if value else ""
    if kind == "null":
        return ""
    return str(value) if value else ""


def _interpreter(path: Path) -> list[str]:
    """Nothing for an executable script (StackStorm makes it executable; the pack here is read-only
    to the executor); else its ``#!`` line, else ``/bin/sh``."""
    if os.access(path, os.X_OK):
        return []
    with path.open("rb") as file:
        first = file.readline(512)
    if first.startswith(b"#!"):
        return shlex.split(first[2:].decode(errors="replace"))
    return ["/bin/sh"]


def shell_result(ctx: RunContext, outcome: ProcessOutcome) -> RunResult:
    """StackStorm's local shell result: ``{failed, succeeded, return_code, stdout, stderr}``, the
    streams with one trailing newline stripped and decoded as JSON when they are JSON."""
    error = interruption(ctx, outcome)
    code = TIMEOUT_RETURN_CODE if outcome.timed_out else outcome.exit_code
    succeeded = code == 0 and error is None
    shape: dict[str, Any] = {
        "failed": not succeeded,
        "succeeded": succeeded,
        "return_code": code,
        "stdout": json_or_text(strip_shell_chars(outcome.stdout.text())),
        "stderr": json_or_text(strip_shell_chars(outcome.stderr.text())),
    }
    return from_process(ctx, outcome, shape, succeeded=succeeded, error=error, exit_code=code)


def _failed(ctx: RunContext, error: str) -> RunResult:
    return failed(
        ctx, error, {"failed": True, "succeeded": False, "return_code": None, "stdout": "", "stderr": ""}
    )
