"""The `attune` API commands end to end, as subprocesses, against a real API (and sensor/executor)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats

from attune_cli.app import app
from attune_shared.processes import console_script

from ..api.harness import Api


async def attune(
    api: Api, *args: str, role: str | None = "admin", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``attune ARGS`` with the module API's settings; returns (exit code, stdout, stderr)."""
    full_env = {**api.env, "ATTUNE_API_URL": api.url, "COLUMNS": "200", **(env or {})}
    if role is not None:
        full_env["ATTUNE_API_KEY"] = api.keys[role]
    proc = await asyncio.create_subprocess_exec(
        console_script("attune"),
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def ok_json(api: Api, *args: str, role: str | None = "admin") -> Any:
    code, out, err = await attune(api, *args, "--json", role=role)
    assert code == 0, (args, out, err)
    return json.loads(out)


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("attune: "), err
    return lines[0]


async def test_apikey_create_list_revoke(api: Api) -> None:
    created = await ok_json(
        api, "apikey", "create", "--role", "viewer", "--login", "cli-viewer", "--name", "ci"
    )
    assert (
        created["key"].startswith("atn_") and created["role"] == "viewer" and created["login"] == "cli-viewer"
    )
    async with httpx.AsyncClient(base_url=api.url) as http:
        me = (await http.get("/auth/me", headers={"X-API-Key": created["key"]})).json()
        assert me["login"] == "cli-viewer" and me["role"] == "viewer"
        listed = await ok_json(api, "apikey", "list")
        assert any(k["id"] == created["id"] and k["login"] == "cli-viewer" for k in listed)
        assert all("key_hash" not in k for k in listed)
        code, out, _ = await attune(api, "apikey", "revoke", str(created["id"]))
        assert code == 0 and "revoked" in out
        assert (await http.get("/auth/me", headers={"X-API-Key": created["key"]})).status_code == 401
    code, out, err = await attune(api, "apikey", "create", "--role", "superuser")
    assert code == 2 and "--role" in err
    code, out, err = await attune(api, "apikey", "create", "--role", "operator")
    assert code == 0 and out.strip().startswith("atn_") and "not shown again" in err


async def test_action_and_rule_commands(api: Api) -> None:
    actions = await ok_json(api, "action", "list", "--ref", "core.*")
    assert {"core.echo", "core.noop", "core.local"} <= {a["ref"] for a in actions}
    code, out, _ = await attune(api, "action", "list", "--pack", "core")
    assert code == 0 and "core.echo" in out and "runner_type" in out
    echo = await ok_json(api, "action", "get", "core.echo")
    assert sorted(echo["parameters_schema"]["required"]) == ["cmd", "message"]
    code, out, _ = await attune(api, "action", "get", "core.echo")
    assert code == 0 and "message" in out and "local-shell-cmd" in out
    code, _, err = await attune(api, "action", "get", "core.missing")
    assert code == 1 and one_line_error(err) == "attune: action core.missing does not exist"

    async with api.client("admin") as http:
        rule = {"ref": "cli.on_hook", "trigger_ref": "core.webhook", "action_ref": "core.noop"}
        assert (await http.post("/api/v1/rules", json=rule)).status_code == 201
    rules = await ok_json(api, "rule", "list", "--ref", "cli.*")
    assert [r["ref"] for r in rules] == ["cli.on_hook"]
    assert (await ok_json(api, "rule", "get", "cli.on_hook"))["trigger_ref"] == "core.webhook"
    disabled = await ok_json(api, "rule", "disable", "cli.on_hook", role="operator")
    assert disabled["enabled"] is False
    assert await ok_json(api, "rule", "list", "--ref", "cli.*", "--enabled") == []
    code, out, _ = await attune(api, "rule", "enable", "cli.on_hook", role="operator")
    assert code == 0 and "rule cli.on_hook is enabled" in out
    code, out, _ = await attune(api, "rule", "list", "--pack", "cli")
    assert code == 0 and "cli.on_hook" in out and "core.webhook" in out
    code, _, err = await attune(api, "rule", "disable", "cli.on_hook", role="viewer")
    assert code == 1 and "needs the operator role" in one_line_error(err)
    code, _, err = await attune(api, "rule", "list", role=None)
    assert code == 1 and "authentication required" in one_line_error(err)


async def test_run_execution_and_tail(api: Api, services: Any) -> None:
    await services("attune-executor")
    done = await ok_json(api, "run", "core.echo", "message=hello from the CLI", role="operator")
    assert done["status"] == "completed" and done["config"]["message"] == "hello from the CLI"
    assert done["result"]["succeeded"] is True
    code, out, err = await attune(api, "run", "core.local", "cmd=exit 3", role="operator")
    assert code == 1 and "failed" in err, (out, err)
    code, out, _ = await attune(api, "run", "core.echo", "message=table", role="operator")
    assert code == 0 and "completed" in out and "core.echo" in out

    code, _, err = await attune(api, "run", "core.echo", "message", role="operator")
    assert code == 2 and "key=value" in err
    code, _, err = await attune(
        api, "run", "core.echo", "message=5", role="operator"
    )  # 5 parses as JSON: a number
    assert code == 1 and one_line_error(err).startswith("attune: parameters.message:")
    code, _, err = await attune(api, "run", "core.echo", "message=x", role="viewer")
    assert code == 1 and "operator" in one_line_error(err)

    # --async, tail until it finishes, then get; and a cancelled sleep
    started = await ok_json(api, "run", "core.sleep", "seconds=1", "--async", role="operator")
    code, out, _ = await attune(api, "execution", "tail", str(started["id"]), "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert (lines[-1].get("new_status") or lines[-1].get("status")) == "completed", lines
    detail = await ok_json(api, "execution", "get", str(started["id"]))
    assert detail["status"] == "completed" and detail["links"]["rule"] is None
    code, out, _ = await attune(api, "execution", "get", str(started["id"]))
    assert code == 0 and "core.sleep" in out and "result" in out

    sleeping = await ok_json(api, "run", "core.sleep", "seconds=60", "--async", role="operator")
    cancelled = await ok_json(api, "execution", "cancel", str(sleeping["id"]), role="operator")
    assert cancelled["outcome"] in ("cancelled", "canceling")
    code, _, err = await attune(api, "execution", "cancel", "99999999", role="operator")
    assert code == 1 and one_line_error(err) == "attune: execution 99999999 does not exist"
    listed = await ok_json(api, "execution", "list", "--action", "core.sleep")
    assert {x["id"] for x in listed} >= {started["id"], sleeping["id"]}
    completed = await ok_json(api, "execution", "list", "--status", "completed", "--action", "core.*")
    assert all(x["status"] == "completed" for x in completed) and started["id"] in {
        x["id"] for x in completed
    }
    code, out, _ = await attune(api, "execution", "list", "-n", "5")
    assert code == 0 and "core." in out


async def test_event_publish_straight_to_nats_and_list(api: Api, services: Any) -> None:
    msg_id = f"cli-{uuid.uuid4().hex[:8]}"
    payload = json.dumps({"host": "web-9", "severity": "info"})
    first = await ok_json(api, "event", "publish", "core.webhook", payload, "--msg-id", msg_id, role=None)
    assert first["subject"] == f"{api.settings.nats.prefix}.trigger.core.webhook" and not first["duplicate"]
    again = await ok_json(api, "event", "publish", "core.webhook", payload, "--msg-id", msg_id, role=None)
    assert again["duplicate"] and again["seq"] == first["seq"]
    nc = await nats.connect(api.settings.nats.url)
    try:
        stored = await nc.jsm().get_msg(f"{api.settings.nats.prefix.upper()}_TRIGGERS", first["seq"])
        assert json.loads(stored.data or b"") == {"host": "web-9", "severity": "info"}
    finally:
        await nc.close()
    code, _, err = await attune(api, "event", "publish", "core.webhook", "[1, 2]", role=None)
    assert code == 2 and "JSON object" in err
    code, _, err = await attune(api, "event", "publish", "core.webhook", "{nope", role=None)
    assert code == 2 and "not JSON" in err

    await services("attune-sensor")
    async with asyncio.timeout(30):
        while True:  # the sensor stores the message (once, despite the republish)
            events = await ok_json(api, "event", "list", "--trigger", "core.webhook")
            mine = [e for e in events if e["dedup_id"] == msg_id]
            if mine:
                break
            await asyncio.sleep(0.2)
    assert len(mine) == 1 and mine[0]["payload"] == {"host": "web-9", "severity": "info"}
    code, out, _ = await attune(api, "event", "list", "--trigger", "core.*")
    assert code == 0 and "core.webhook" in out


async def test_unreachable_api_is_one_line(api: Api) -> None:
    code, _, err = await attune(api, "action", "list", env={"ATTUNE_API_URL": "http://127.0.0.1:9"})
    assert code == 1 and one_line_error(err).startswith("attune: cannot reach the API at http://127.0.0.1:9")


async def test_key_set_get_list_delete(api: Api) -> None:
    assert (await ok_json(api, "key", "set", "cli.region", "eu-west-1"))["value"] == "eu-west-1"
    secret = await ok_json(api, "key", "set", "cli.token", "t0k3n", "--encrypt", "--ttl", "3600")
    assert secret["value"] == "********" and secret["secret"] and secret["expires_at"]
    assert (await ok_json(api, "key", "set", "cli.limits", '{"cpu": 2}'))["value"] == {"cpu": 2}
    assert (await ok_json(api, "key", "get", "cli.token", "--decrypt"))["value"] == "t0k3n"
    code, out, err = await attune(api, "key", "get", "cli.token", "--decrypt", role="viewer")
    assert code == 1 and "decrypt" in one_line_error(err)
    mine = await ok_json(api, "key", "set", "cli.theme", "dark", "--scope", "user", role="viewer")
    assert mine["user"] == "viewer-user" and mine["scope"] == "user"
    listed = await ok_json(api, "key", "list", "--prefix", "cli.", "--limit", "2", "--all")
    assert [k["name"] for k in listed] == ["cli.limits", "cli.region", "cli.theme", "cli.token"]
    code, out, _ = await attune(api, "key", "list", "--prefix", "cli.", "--limit", "2")
    assert code == 0 and "cli.limits" in out and "cli.theme" not in out and "--all" in out
    code, out, _ = await attune(api, "key", "delete", "cli.region")
    assert code == 0
    code, _, err = await attune(api, "key", "get", "cli.region")
    assert code == 1 and "system key cli.region" in one_line_error(err)


def test_the_readme_names_every_command_group() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("| `cli/`"))
    named = set(re.findall(r"`([a-z]+)`", line.split(":", 1)[1]))
    groups = {group.name for group in app.registered_groups}
    commands = {command.name for command in app.registered_commands}
    assert named == groups | commands


async def test_key_rotate_needs_the_previous_key_and_reports_what_it_re_encrypted(api: Api) -> None:
    code, _, err = await attune(api, "key", "rotate", role=None)
    assert code == 2 and "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY" in one_line_error(err)
    env = {
        "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY": api.env["ATTUNE__SECURITY__SECRET_KEY"],
        "ATTUNE__SECURITY__SECRET_KEY": "a-brand-new-secret-key-for-this-test",
    }
    code, out, err = await attune(api, "key", "rotate", role=None, env=env)
    assert code == 0, err
    assert "key.value:" in out and "execution.secrets:" in out and "done" in out
    # and back, so the module's API (still on the first key) reads what it stored
    back = {
        "ATTUNE__SECURITY__SECRET_KEY": env["ATTUNE__SECURITY__PREVIOUS_SECRET_KEY"],
        "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY": env["ATTUNE__SECURITY__SECRET_KEY"],
    }
    assert (await attune(api, "key", "rotate", role=None, env=back))[0] == 0


async def test_database_commands_are_audited_and_audit_list_reads_the_log(api: Api) -> None:
    created = await ok_json(
        api,
        "apikey",
        "create",
        "--role",
        "operator",
        "--login",
        "cli-ro",
        "--scope",
        "read",
        "--expires-in",
        "1",
    )
    assert created["scope"] == "read" and created["expires_at"]
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": created["key"]}) as http:
        assert (await http.post("/api/v1/executions", json={"action_ref": "core.noop"})).status_code == 403
    code, _, _ = await attune(api, "apikey", "revoke", "999999")
    assert code == 1
    code, out, err = await attune(api, "audit", "list", "--action", "apikey.*", "--json")
    assert code == 0, err
    records = json.loads(out)["data"]
    revoke, create = records[0], records[1]
    assert (
        revoke["action"] == "apikey.revoke" and revoke["outcome"] == "error" and revoke["target"] == "999999"
    )
    assert create["action"] == "apikey.create" and create["target"] == "cli-ro" and create["source"] == "cli"
    assert create["actor"].startswith("cli:") and create["details"]["scope"] == "read"
    code, out, err = await attune(api, "audit", "list", "--actor", create["actor"], "--outcome", "error")
    assert code == 0 and "apikey.revoke" in out and "apikey.create" not in out, (out, err)
    code, _, err = await attune(api, "audit", "list", role="operator")
    assert code == 1 and "admin" in one_line_error(err)
