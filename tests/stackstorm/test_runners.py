"""Each StackStorm runner type runs an action of a StackStorm pack and returns StackStorm's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from attune_shared.bus import Bus
from attune_shared.models import KeyScope
from attune_shared.packs import RegistrationReport
from attune_shared.repos import ExecutionRepository, KeyRepository
from attune_shared.statuses import TERMINAL_STATUSES, ExecutionStatus

from ..executor.helpers import HttpServer, request, status_of, wait_for
from .conftest import StartExecutor

S = ExecutionStatus


async def run(db: asyncpg.Pool, bus: Bus, action_ref: str, params: dict[str, Any] | None = None) -> Any:
    """Request the action and wait for the execution to end."""
    x = await request(db, bus, action_ref, params or {})

    async def ended() -> Any:
        row = await status_of(db, x)
        return row if row.status in TERMINAL_STATUSES else None

    return await wait_for(ended, 30, f"{action_ref} to end")


async def test_each_runner_type_gives_stackstorm_results(
    db_pool: asyncpg.Pool,
    bus: Bus,
    registered: RegistrationReport,
    start_executor: StartExecutor,
    tmp_path: Path,
) -> None:
    await start_executor()

    greet = await run(db_pool, bus, "st2demo.greet", {"who": "Ann"})
    assert greet.status is S.COMPLETED, greet.result
    assert {k: greet.result[k] for k in ("failed", "succeeded", "return_code", "stdout", "stderr")} == {
        "failed": False,
        "succeeded": True,
        "return_code": 0,
        "stdout": {"greeting": "hi Ann", "times": 2},  # stdout that is JSON is decoded
        "stderr": "",
    }

    args = await run(
        db_pool,
        bus,
        "st2demo.args",
        {
            "name": "a b",
            "count": 0,
            "ratio": 2,
            "enabled": True,
            "hosts": ["h1", "h2"],
            "force": True,
            "verbose": False,
            "label": "x y",
            "tags": ["t1"],
        },
    )
    assert args.status is S.COMPLETED, args.result
    assert args.result["stdout"].splitlines() == [
        "[--force]",  # named arguments in name order
        "[--label=x y]",
        "[--tags=['t1']]",
        "[a b]",
        "[]",  # the integer 0 is an empty argument, as StackStorm passes it
        "[2.0]",  # a number is a float
        "[1]",
        "[h1,h2]",
    ]
    assert args.result["stderr"] == "pack=st2demo"

    hello = await run(db_pool, bus, "st2demo.hello", {"name": "Bob", "token": "t0k3n!"})
    assert hello.status is S.COMPLETED, hello.result
    assert hello.result["result"] == {
        "message": "HELLO BOB!",
        "previous": None,
        "token_length": 6,
        "has_api_token": True,
    }
    assert hello.result["exit_code"] == 0 and hello.result["stdout"] == "printed to stdout\n"
    assert "saying hello to Bob" in hello.result["stderr"]
    key = await KeyRepository(db_pool).get(KeyScope.SYSTEM, "", "st2demo.Hello:last")
    assert key is not None and key.value == "Bob"

    refused = await run(db_pool, bus, "st2demo.hello", {"name": "Cy", "fail": True})
    assert refused.status is S.FAILED and refused.result["result"]["previous"] == "Bob"
    assert refused.result["error"] == "the action returned (False, result)"

    async with HttpServer(status=200, body=b'{"up": true}') as server:
        fetched = await run(db_pool, bus, "st2demo.fetch", {"url": f"{server.url}/health"})
    assert fetched.status is S.COMPLETED, fetched.result
    assert (fetched.result["status_code"], fetched.result["body"], fetched.result["parsed"]) == (
        200,
        {"up": True},
        True,
    )

    nothing = await run(db_pool, bus, "st2demo.nothing")
    assert nothing.status is S.COMPLETED
    assert {k: nothing.result[k] for k in ("failed", "succeeded", "return_code")} == {
        "failed": False,
        "succeeded": True,
        "return_code": 0,
    }

    remote = await run(db_pool, bus, "st2demo.remote_uptime", {"hosts": "web-1"})
    assert remote.status is S.FAILED
    assert remote.result["error"].startswith("runner remote-shell-cmd is not available here")
    # an Orquesta workflow of the pack runs on the workflow engine: its task is a child execution
    flow = await run(db_pool, bus, "st2demo.flow", {"who": "Di"})
    assert (flow.status, flow.result) == (S.COMPLETED, {"output": None})
    [task] = await ExecutionRepository(db_pool).children([flow.id])
    assert (task.task_name, task.action_ref, task.status) == ("greet", "st2demo.greet", S.COMPLETED)
    assert task.result is not None and task.result["stdout"] == {"greeting": "hi Di", "times": 2}

    sudo = await run(db_pool, bus, "core.local_sudo", {"cmd": "id"})
    assert sudo.status is S.FAILED and sudo.result["error"].startswith("sudo is not allowed on this executor")


async def test_a_python_action_that_raises_fails_with_stackstorm_result(
    db_pool: asyncpg.Pool,
    bus: Bus,
    registered: RegistrationReport,
    st2demo: Path,
    start_executor: StartExecutor,
) -> None:
    (st2demo / "actions" / "py" / "hello.py").write_text(
        "from st2common.runners.base_action import Action\n\n\nclass Hello(Action):\n"
        "    def run(self, **params):\n        raise RuntimeError('boom ' + self.config['missing'])\n"
    )
    await start_executor()
    x = await run(db_pool, bus, "st2demo.hello", {"name": "Ed"})
    assert x.status is S.FAILED
    assert x.result["result"] == "None" and x.result["exit_code"] == 1
    assert 'Config for pack "st2demo" is missing key "missing"' in x.result["stderr"]
