"""Action runs of this project's own runners: timeouts, output capture, parsing, exit codes and the
scrubbed environment (``demo.sh`` is a ``shell`` action without a script: it runs ``cmd``)."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from attune_shared.bus import Bus
from attune_shared.statuses import ExecutionStatus

from ..shared.factories import make_action
from .conftest import StartExecutor
from .helpers import finished, request, status_of, wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_timeout_kills_the_whole_process_group(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor, tmp_path: Path
) -> None:
    await make_action(db_pool, "demo.sh", runner_type="shell")
    await start_executor()
    pidfile = tmp_path / "child.pid"
    x = await request(
        db_pool,
        bus,
        "demo.sh",
        {"cmd": f"sleep 60 & echo $! > {pidfile}; echo started; wait"},
        timeout_seconds=1,
    )
    [done] = await finished(db_pool, 1)
    assert done.id == x.id and done.status is ExecutionStatus.TIMEOUT
    assert done.result is not None
    assert done.result["timed_out"] is True and done.result["succeeded"] is False
    assert done.result["stdout"] == "started\n" and "timed out after 1 s" in done.result["error"]
    assert 1000 <= done.result["duration_ms"] < 4000
    child = int(pidfile.read_text())
    await wait_for(lambda: _not_alive(child), 5, "the background child to be killed")


async def _not_alive(pid: int) -> bool:
    return not _alive(pid)


async def test_exit_codes_output_limits_and_parsing(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor
) -> None:
    await make_action(db_pool, "demo.json", runner_type="shell", output_format="json")
    await make_action(db_pool, "demo.yaml", runner_type="shell", output_format="yaml")
    await make_action(db_pool, "demo.sh", runner_type="shell")
    await start_executor(MAX_OUTPUT_BYTES="1024")
    failing = await request(db_pool, bus, "demo.sh", {"cmd": "echo oops >&2; exit 3"})
    big = await request(
        db_pool, bus, "demo.sh", {"cmd": "head -c 5000 /dev/zero | tr '\\0' x; echo done >&2"}
    )
    good_json = await request(db_pool, bus, "demo.json", {"cmd": "echo '{\"n\": [1, 2]}'"})
    bad_json = await request(db_pool, bus, "demo.json", {"cmd": "echo not json"})
    good_yaml = await request(db_pool, bus, "demo.yaml", {"cmd": "printf 'a: 1\\nb: [x]\\n'"})
    env = await request(
        db_pool, bus, "demo.sh", {"cmd": 'printf "%s" "$GREETING"', "env": {"GREETING": "hi"}}
    )
    await finished(db_pool, 6)

    x = await status_of(db_pool, failing)
    assert x.status is ExecutionStatus.FAILED and x.result is not None
    assert (x.result["exit_code"], x.result["stderr"], x.result["error"]) == (
        3,
        "oops\n",
        "exited with code 3",
    )
    x = await status_of(db_pool, big)
    assert x.status is ExecutionStatus.COMPLETED and x.result is not None
    assert x.result["stdout"] == "x" * 1024 and x.result["stdout_truncated"] is True
    assert x.result["stderr"] == "done\n" and "stderr_truncated" not in x.result
    x = await status_of(db_pool, good_json)
    assert (
        x.status is ExecutionStatus.COMPLETED and x.result is not None and x.result["data"] == {"n": [1, 2]}
    )
    x = await status_of(db_pool, bad_json)
    assert x.status is ExecutionStatus.FAILED and x.result is not None and x.result["exit_code"] == 0
    assert "output_format is json but stdout is not valid JSON" in x.result["error"]
    x = await status_of(db_pool, good_yaml)
    assert x.result is not None and x.result["data"] == {"a": 1, "b": ["x"]}
    x = await status_of(db_pool, env)
    assert x.result is not None and x.result["stdout"] == "hi"


async def test_actions_get_a_scrubbed_environment(
    db_pool: asyncpg.Pool, bus: Bus, core: None, start_executor: StartExecutor, service_env: dict[str, str]
) -> None:
    await make_action(db_pool, "demo.sh", runner_type="shell")
    await start_executor(env={"AWS_SECRET_ACCESS_KEY": "leaked-if-you-see-this", "LANG": "C.UTF-8"})
    x = await request(
        db_pool, bus, "demo.sh", {"cmd": "env", "env": {"ATTUNE_EXEC_ID": "spoofed", "EXTRA": "1"}}
    )
    [done] = await finished(db_pool, 1)
    assert done.result is not None
    env = dict(line.split("=", 1) for line in done.result["stdout"].splitlines() if "=" in line)
    assert env["ATTUNE_EXEC_ID"] == str(x.id) and env["ATTUNE_ACTION"] == "demo.sh"
    assert env["EXTRA"] == "1" and "PATH" in env and env["LANG"] == "C.UTF-8"  # allow-listed
    assert not [k for k in env if k.startswith("ATTUNE__")]
    assert "AWS_SECRET_ACCESS_KEY" not in env
    secret = service_env["ATTUNE__SECURITY__SECRET_KEY"]
    for value in (
        secret,
        service_env["ATTUNE__DATABASE__URL"],
        service_env["ATTUNE__NATS__URL"],
        "leaked-if-you-see-this",
    ):
        assert value not in done.result["stdout"]
    assert set(env) <= {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "PWD", "SHLVL", "_",
        "ATTUNE_EXEC_ID", "ATTUNE_ACTION", "ATTUNE_PACK_REF", "EXTRA",
    }  # fmt: skip
