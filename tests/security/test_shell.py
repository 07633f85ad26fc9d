"""Hostile parameter values reach shell actions as data, never as shell syntax, for each shell
runner type: this project's ``shell`` (a script, or ``cmd``), StackStorm's ``local-shell-script``
(named and positional arguments) and ``local-shell-cmd`` (``env``, and ``core.echo``'s message).

Each run is a real child process; a canary file proves nothing was interpreted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attune_executor.runners import Runners
from attune_executor.runners.base import RunContext, RunResult
from attune_executor.runners.st2.results import json_or_text
from attune_shared.constants import PACKS_DIR
from attune_shared.models import Action, Execution, Pack
from attune_shared.packs.schemas import flat_parameters_schema
from attune_shared.settings import ExecutorSettings
from attune_shared.yamlfile import load_yaml

CANARY = "pwned"


def hostile(where: Path) -> list[str]:
    """Values an attacker would put in a webhook body that a rule passes on."""
    canary = where / CANARY
    return [
        f"; touch {canary}",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"a\ntouch {canary}",
        f"' ; touch {canary} ; '",
        f'" ; touch {canary} ; "',
        f"x && touch {canary} || touch {canary}",
        f"> {canary}",
        "--output=/etc/passwd",
        "-rf",
        "*",
        "$HOME",
    ]


def _context(
    tmp_path: Path, runner_type: str, entry_point: str, schema: dict[str, Any], params: dict[str, Any]
) -> RunContext:
    now = datetime.now(UTC)
    pack = Pack.model_construct(id=1, ref="evil", config={}, path=str(tmp_path / "pack"))
    action = Action.model_construct(
        id=1,
        ref="evil.act",
        pack_ref="evil",
        runner_type=runner_type,
        entry_point=entry_point,
        parameters_schema=schema,
        output_format="text",
    )
    execution = Execution.model_construct(
        id=7, created=now, action_ref="evil.act", rule_ref=None, trigger_ref=None, trace_tag=None
    )
    return RunContext(execution, action, pack, params, 30.0, ExecutorSettings())


def _script(tmp_path: Path, name: str, body: str) -> None:
    script = tmp_path / "pack" / "actions" / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(body)
    script.chmod(0o755)


async def _run(ctx: RunContext) -> RunResult:
    return await Runners().run(ctx)


def _untouched(tmp_path: Path) -> None:
    assert not (tmp_path / CANARY).exists(), "a parameter value was run by a shell"


async def test_local_shell_script_passes_each_value_as_one_argument(tmp_path: Path) -> None:
    values = hostile(tmp_path)
    # print each argument between NUL bytes, exactly as received
    _script(tmp_path, "args.sh", '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    properties: dict[str, Any] = {f"p{i}": {"type": "string", "position": i} for i in range(len(values))}
    properties |= {f"n{i}": {"type": "string"} for i in range(len(values))}
    params = {f"p{i}": v for i, v in enumerate(values)} | {f"n{i}": v for i, v in enumerate(values)}
    ctx = _context(tmp_path, "local-shell-script", "args.sh", flat_parameters_schema(properties), params)

    result = await _run(ctx)

    assert result.succeeded, result
    received = str(result.shape["stdout"]).split("\0")[:-1] if result.shape else []
    named = [f"--n{i}={values[i]}" for i in sorted(range(len(values)), key=lambda i: f"n{i}")]
    assert received == named + values  # named first (by name), then positional; none split or run
    _untouched(tmp_path)


@pytest.mark.parametrize("kwarg_op", ["--", "; touch {canary}; --"])
async def test_local_shell_script_quotes_the_whole_named_word(tmp_path: Path, kwarg_op: str) -> None:
    kwarg_op = kwarg_op.format(canary=tmp_path / CANARY)
    _script(tmp_path, "args.sh", '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    schema = flat_parameters_schema({"flag": {"type": "boolean"}, "kwarg_op": {"type": "string"}})
    ctx = _context(tmp_path, "local-shell-script", "args.sh", schema, {"flag": True, "kwarg_op": kwarg_op})

    result = await _run(ctx)

    assert result.shape is not None and result.shape["stdout"] == f"{kwarg_op}flag\0", result
    _untouched(tmp_path)


async def test_local_shell_cmd_env_values_are_data(tmp_path: Path) -> None:
    values = hostile(tmp_path)
    env = {f"V{i}": v for i, v in enumerate(values)}
    cmd = " ".join(f'printf "%s\\0" "$V{i}";' for i in range(len(values)))
    schema = flat_parameters_schema({"cmd": {"type": "string"}, "env": {"type": "object"}})
    ctx = _context(tmp_path, "local-shell-cmd", "", schema, {"cmd": cmd, "env": env})

    result = await _run(ctx)

    assert result.shape is not None and result.shape["stdout"].split("\0")[:-1] == values, result
    _untouched(tmp_path)


@pytest.mark.parametrize("action", ["echo", "error"])
async def test_core_echo_and_error_pass_the_message_as_data(tmp_path: Path, action: str) -> None:
    """StackStorm's core.echo is ``echo "{{message}}"``: a message holding ``$( )`` runs. Here the
    core pack quotes it (``shell_quote``)."""
    definition = load_yaml(PACKS_DIR / "core" / "actions" / f"{action}.yaml")
    schema = flat_parameters_schema(definition["parameters"], closed=True)
    for value in hostile(tmp_path):
        ctx = _context(tmp_path, "local-shell-cmd", "", schema, {"message": value})
        result = await _run(ctx)
        assert result.shape is not None
        # the output is the message (decoded when it is JSON, as StackStorm's result does)
        assert result.shape["stdout" if action == "echo" else "stderr"] == json_or_text(value), result
        _untouched(tmp_path)


async def test_own_shell_runner_gives_parameters_on_stdin_as_json(tmp_path: Path) -> None:
    values = hostile(tmp_path)
    _script(tmp_path, "stdin.sh", "#!/bin/sh\ncat\n")
    params = {f"p{i}": v for i, v in enumerate(values)}
    ctx = _context(tmp_path, "shell", "stdin.sh", {}, params)

    result = await _run(ctx)

    assert result.succeeded, result
    assert json.loads(result.stdout) == params
    _untouched(tmp_path)


async def test_own_shell_runner_cmd_env_values_are_data(tmp_path: Path) -> None:
    values = hostile(tmp_path)
    env = {f"V{i}": v for i, v in enumerate(values)}
    cmd = " ".join(f'printf "%s\\0" "$V{i}";' for i in range(len(values)))
    ctx = _context(tmp_path, "shell", "", {}, {"cmd": cmd, "env": env})

    result = await _run(ctx)

    assert result.succeeded, result
    assert result.stdout.split("\0")[:-1] == values
    _untouched(tmp_path)
