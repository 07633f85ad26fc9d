"""Property-based runs of schemathesis over the OpenAPI document of a real attune-api process with a
seeded database: no request may produce a 5xx.

Two passes: one with every parameter generated (paths, queries, bodies, headers), one with the
path parameters pinned to seeded rows so updates, deletes, cancels and webhooks reach their logic.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from attune_shared.constants import PACKS_DIR
from attune_shared.packs import register_core_pack, register_pack
from attune_shared.repos import (
    EnforcementRepository,
    KeyRepository,
    NewEnforcement,
    RuleRepository,
    TriggerRepository,
    WorkerRepository,
)

from ..shared.factories import make_event, make_execution
from .harness import Api

#: Cases per operation and phase, per pass.
MAX_EXAMPLES = 15
#: Generated sign-ins with made-up credentials must not lock the fuzzer's own address out
#: (throttling is tested in test_audit).
API_ENV = {"ATTUNE__API__AUTH_FAILURE_LIMIT": "1000000"}


async def _seed(api: Api) -> dict[str, int]:
    conn = await api.db()
    try:
        # idempotent: the generated pass may have deleted or changed any of it
        await register_core_pack(conn)
        await register_pack(conn, PACKS_DIR / "examples")
        await TriggerRepository(conn).update("examples.alert", {"webhook_enabled": True, "enabled": True})
        await KeyRepository(conn).put({"name": "fuzz.key", "scope": "system", "owner": "", "value": "plain"})
        event = await make_event(conn, "examples.alert", {"host": "web-1", "severity": "critical"})
        rule = await RuleRepository(conn).get_by_ref("examples.page_on_critical")
        assert rule is not None
        [enforcement] = await EnforcementRepository(conn).create_many(
            [NewEnforcement(rule.id, rule.ref, "examples.alert", event.id, event.created)]
        )
        executions = [await make_execution(conn, "core.echo", config={"message": "seed"}) for _ in range(3)]
        worker = await WorkerRepository(conn).register(name="fuzz-worker", host="h", pid=1, concurrency=1)
        return {
            "event": event.id,
            "enforcement": enforcement.id,
            "execution": executions[0].id,
            "worker": worker.id,
        }
    finally:
        await conn.close()


def _pinned_config(ids: dict[str, int]) -> str:
    refs = {
        "packs": "examples",
        "triggers": "examples.alert",
        "sensors": "core.timer",
        "actions": "examples.notify",
        "rules": "examples.page_on_critical",
        "policies": "examples.notify_rate",
        "keys": "fuzz.key",
    }
    numbered = {
        "events": "event",
        "enforcements": "enforcement",
        "executions": "execution",
        "workers": "worker",
    }
    blocks = [
        f'[[operations]]\ninclude-path-regex = "^/api/v1/{kind}/\\\\{{ref\\\\}}"\nparameters = {{ ref = "{ref}" }}\n'
        for kind, ref in refs.items()
    ]
    blocks += [
        f'[[operations]]\ninclude-path-regex = "^/api/v1/{kind}/\\\\{{id\\\\}}"\nparameters = {{ id = {ids[key]} }}\n'
        for kind, key in numbered.items()
    ]
    blocks.append(
        '[[operations]]\ninclude-path-regex = "^/api/v1/webhooks/"\nparameters = { trigger_ref = "examples.alert" }\n'
    )
    return "\n".join(blocks)


async def _run(api: Api, cwd: Path, config: str | None) -> str:
    st = str(Path(sys.executable).parent / "st")
    global_options = []
    if config is not None:
        (cwd / "schemathesis.toml").write_text(config)
        global_options = ["--config-file", str(cwd / "schemathesis.toml")]
    command = [
        st,
        *global_options,
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"X-API-Key: {api.keys['admin']}",
        "--generation-with-security-parameters",
        "false",
        "--exclude-path-regex",
        # live streams never end; revoking keys by id would revoke the fuzzer's own (tested in test_auth)
        "(/stream$|^/auth/keys/)",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--no-color",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    except TimeoutError:
        proc.kill()
        raise
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-12000:] + "\n----- attune-api -----\n" + api.process.output()[-6000:]
    assert "Test cases:" in text and " passed" in text, text
    return text


async def test_no_server_errors_with_generated_parameters(api: Api, tmp_path: Path) -> None:
    await _seed(api)
    text = await _run(api, tmp_path, None)
    assert "Authentication failed" not in text, text


async def test_no_server_errors_on_seeded_rows(api: Api, tmp_path: Path) -> None:
    await _run(api, tmp_path, _pinned_config(await _seed(api)))
