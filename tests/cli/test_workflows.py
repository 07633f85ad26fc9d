"""The workflow commands: register (warned, or refused with --strict), validate a file, run and wait
for the output, the task tree, pause and resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..api.harness import Api
from ..executor.conftest import FAST
from ..workflows.stack import PACK_DIR
from .test_cli import attune, ok_json

BROKEN = PACK_DIR / "actions" / "workflows" / "broken.yaml"


async def test_register_validate_run_and_show_workflows(api: Api, services: Any) -> None:
    code, _, err = await attune(api, "pack", "register", str(PACK_DIR), "--strict")
    assert code == 2, err
    assert 'actions/workflows/broken.yaml:tasks.first.next[0].do: The task "nowhere" is not defined.' in err
    assert "nothing was registered" in err
    code, out, err = await attune(api, "pack", "register", str(PACK_DIR))
    assert code == 0, err
    assert "wftest.sequential" in out and "workflows" in out
    assert "warning: workflow wftest.broken fails inspection" in err and 'The task "nowhere"' in err

    code, out, err = await attune(api, "workflow", "validate", str(BROKEN))
    assert code == 2
    assert out.strip() == f'{BROKEN}:tasks.first.next[0].do: The task "nowhere" is not defined.'
    assert "is invalid: 1 error" in err
    code, out, _ = await attune(
        api, "workflow", "validate", str(PACK_DIR / "actions" / "workflows" / "nested.yaml")
    )
    assert code == 0 and "is valid" in out
    unknown = PACK_DIR.parent / "files" / "unknown_action.yaml"
    code, out, _ = await attune(api, "workflow", "validate", str(unknown))
    assert (
        code == 2
        and 'tasks.only.action: The action "wftest.nothing" is not registered in the database.' in out
    )
    code, out, err = await attune(api, "workflow", "validate", str(unknown), "--offline")
    assert code == 0 and "not checked" in err

    await services("attune-executor", FAST)
    code, out, err = await attune(api, "run", "wftest.nested", "who=cli", role="operator")
    assert code == 0, (out, err)
    assert "inner" in out and "wftest.sequential" in out and "greet" in out and "after" in out
    assert '"final": "HELLO CLI!"' in out
    done = await ok_json(api, "run", "wftest.errors", "mode=noop", role="operator")
    assert done["status"] == "completed" and done["result"] == {"output": {"handled": "noop", "mode": "noop"}}
    assert [c["task_name"] for c in done["children"]] == ["boom"]
    code, out, err = await attune(api, "run", "wftest.errors", "mode=continue", role="operator")
    assert code == 1 and "errors" in out and "Execution failed" in out

    # pause while its slow task runs (it would become `paused` once that ends), resume, cancel
    started = await ok_json(api, "run", "wftest.pausable", "seconds=60", "--async", role="operator")
    await _until(api, started["id"], lambda d: [c["status"] for c in d["children"]] == ["running"])
    paused = await ok_json(api, "execution", "pause", str(started["id"]), role="operator")
    assert paused["status"] == "pausing"
    code, out, _ = await attune(api, "execution", "get", str(started["id"]))
    assert code == 0 and "pausing" in out and "slow" in out and "running" in out
    resumed = await ok_json(api, "execution", "resume", str(started["id"]), role="operator")
    assert resumed["status"] in ("resuming", "running")
    cancelled = await ok_json(api, "execution", "cancel", str(started["id"]), role="operator")
    assert cancelled["outcome"] == "canceling"
    detail = await _until(api, started["id"], lambda d: d["status"] == "cancelled")
    assert [(c["task_name"], c["status"]) for c in detail["children"]] == [("slow", "cancelled")]
    code, _, err = await attune(api, "execution", "pause", str(started["id"]), role="operator")
    assert code == 1 and "already cancelled" in err


async def _until(api: Api, execution_id: int, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``attune execution get --json`` until ``check`` accepts what it shows."""
    async with asyncio.timeout(60):
        while True:
            detail: dict[str, Any] = await ok_json(api, "execution", "get", str(execution_id))
            if check(detail):
                return detail
