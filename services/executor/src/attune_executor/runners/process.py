"""Actions as child processes: own process group, scrubbed environment, parameters on stdin,
bounded output capture, and SIGTERM then SIGKILL of the whole group on timeout or stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.output import Capture, parse_output
from attune_shared.runner_types import stackstorm_runner

#: PATH when the executor's environment has none.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
#: How long to wait for output pipes to close once the process and its group are gone.
PIPE_GRACE = 1.0


def action_env(ctx: RunContext, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an action process: only the allow-listed variables of the executor's own
    environment (``executor.action_env``), the ``ATTUNE_*`` variables describing the run, and
    ``extra`` (which cannot override ``ATTUNE_*``). Never the service's settings or secrets."""
    env = {name: os.environ[name] for name in ctx.settings.action_env if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    for name, value in (extra or {}).items():
        if not name.startswith("ATTUNE_"):
            env[name] = value
    x = ctx.execution
    env.update(
        {
            "ATTUNE_EXEC_ID": str(x.id),
            "ATTUNE_ACTION": x.action_ref,
            "ATTUNE_PACK_REF": ctx.action.pack_ref,
        }
    )
    optional: tuple[tuple[str, str | None], ...] = (
        ("ATTUNE_RULE", x.rule_ref),
        ("ATTUNE_TRIGGER", x.trigger_ref),
        ("ATTUNE_TRACE_TAG", x.trace_tag),
    )
    for key, optional_value in optional:
        if optional_value:
            env[key] = optional_value
    if stackstorm_runner(ctx.action.runner_type) is not None:
        env.update(ST2_ACTION_PACK_NAME=ctx.action.pack_ref, ST2_ACTION_EXECUTION_ID=str(x.id))
    return env


@dataclass
class ProcessOutcome:
    exit_code: int | None
    stdout: Capture
    stderr: Capture
    timed_out: bool = False
    stopped: bool = False
    error: str | None = None


async def run_process(
    ctx: RunContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    stdin: bytes | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcessOutcome:
    """Run ``argv`` until it exits, times out or is stopped. ``stdin`` is what it reads (default:
    the parameters as JSON and a newline); ``pass_fds`` are inherited."""
    limit = ctx.settings.max_output_bytes
    stdout, stderr = Capture(limit), Capture(limit)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=True,  # its own session and process group: killed as a whole
        )
    except OSError as exc:
        return ProcessOutcome(None, stdout, stderr, error=f"cannot start {argv[0]}: {exc.strerror or exc}")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    readers = [
        asyncio.create_task(stdout.read(proc.stdout)),
        asyncio.create_task(stderr.read(proc.stderr)),
    ]
    data = (json.dumps(ctx.params) + "\n").encode() if stdin is None else stdin
    feeder = asyncio.create_task(_feed(proc.stdin, data))
    waiter = asyncio.create_task(proc.wait())
    stop = asyncio.create_task(ctx.stop.wait())
    outcome = ProcessOutcome(None, stdout, stderr)
    try:
        remaining = max(ctx.timeout - (time.monotonic() - ctx.started), 0.0)
        done, _ = await asyncio.wait({waiter, stop}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            outcome.timed_out = stop not in done
            outcome.stopped = stop in done
            await _terminate(proc.pid, waiter, ctx.settings.kill_grace)
        outcome.exit_code = await waiter
    finally:
        stop.cancel()
        _signal_group(proc.pid, signal.SIGKILL)  # whatever the action left running in its group
        if not waiter.done():
            with contextlib.suppress(BaseException):
                await waiter
        _, pending = await asyncio.wait(readers, timeout=PIPE_GRACE)
        for task in [*pending, feeder]:
            task.cancel()
        await asyncio.gather(*readers, feeder, return_exceptions=True)
    return outcome


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the action does not read its parameters
    finally:
        with contextlib.suppress(Exception):
            stdin.close()


async def _terminate(pid: int, waiter: asyncio.Task[int], grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
    _signal_group(pid, signal.SIGTERM)
    done, _ = await asyncio.wait({waiter}, timeout=grace)
    if not done:
        _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def process_result(ctx: RunContext, outcome: ProcessOutcome) -> RunResult:
    """The result contract of a finished process: exit 0 succeeds; stdout is parsed per
    ``output_format`` when it succeeded, and a parse failure fails the run."""
    out, err = outcome.stdout, outcome.stderr
    result = RunResult(
        succeeded=False,
        exit_code=outcome.exit_code,
        duration_ms=ctx.elapsed_ms(),
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )
    if outcome.error is not None:
        result.error = outcome.error
    elif outcome.timed_out:
        result.timed_out = True
        result.error = f"timed out after {ctx.timeout:g} s; the process group was killed"
    elif outcome.stopped:
        result.cancelled = True
        result.error = "cancelled; the process group was killed"
    elif outcome.exit_code == 0:
        result.data, result.error = parse_output(
            ctx.action.output_format, result.stdout, truncated=out.truncated
        )
        result.succeeded = result.error is None
    elif outcome.exit_code is not None and outcome.exit_code < 0:
        result.error = f"killed by signal {-outcome.exit_code}"
    else:
        result.error = f"exited with code {outcome.exit_code}"
    return result
