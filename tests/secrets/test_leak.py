"""Secrets never leak, shown the hard way: three known secrets (a datastore key read by a rule with
``decrypt_kv`` and by a workflow with ``st2kv(..., decrypt=true)``, a ``secret: true`` parameter of a
run requested through the API and handed down a workflow, a secret value of a pack's config) reach a
StackStorm python action in clear — it proves so by returning their digests — and nowhere else:
not in any API response, SSE stream, CLI output, database row, NATS message (work, updates, dead
letters, KV) or service log."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from attune_shared.processes import ServiceProcess

from ..api.harness import Api
from ..cli.test_cli import attune
from ..executor.conftest import FAST
from ..executor.helpers import wait_for
from ..executor.test_datastore import dump_database

pytestmark = pytest.mark.slow

Services = Callable[..., Awaitable[ServiceProcess]]

KV_SECRET = "kv-s3cret-Horse-4711"
PARAM_SECRET = "param-s3cret-Battery-0815"
CONFIG_SECRET = "config-s3cret-Staple-2342"
SECRETS = (KV_SECRET, PARAM_SECRET, CONFIG_SECRET)

PACK = {
    "pack.yaml": "name: leaky\nversion: 0.1.0\ndescription: Secrets on every path.\nauthor: tests\n",
    "config.schema.yaml": "api_token:\n  type: string\n  secret: true\n  required: true\n",
    "triggers/go.yaml": "name: go\npack: leaky\ndescription: Start.\n",
    "actions/show.yaml": (
        "name: show\npack: leaky\nrunner_type: python-script\nentry_point: show.py\n"
        "parameters:\n  label:\n    type: string\n    required: true\n"
        "  token:\n    type: string\n    secret: true\n"
    ),
    "actions/show.py": (
        "import hashlib\n"
        "from st2common.runners.base_action import Action\n\n\n"
        "def digest(value):\n"
        "    return hashlib.sha256((value or '').encode()).hexdigest()\n\n\n"
        "class Show(Action):\n"
        "    def run(self, label, token=None):\n"
        "        self.logger.info('showing %s', label)\n"
        "        kv = self.action_service.get_value('deploy.token', local=False, decrypt=True)\n"
        "        return {'label': label, 'token': digest(token),\n"
        "                'config': digest(self.config['api_token']), 'kv': digest(kv)}\n"
    ),
    "actions/flow.yaml": (
        "name: flow\npack: leaky\nrunner_type: orquesta\nentry_point: workflows/flow.yaml\n"
        "parameters:\n  token:\n    type: string\n    secret: true\n    required: true\n"
    ),
    "actions/workflows/flow.yaml": (
        "version: 1.0\ninput:\n  - token\ntasks:\n"
        "  given:\n    action: leaky.show label='given' token=<% ctx().token %>\n"
        "    next:\n      - do: stored\n"
        "  stored:\n    action: leaky.show\n"
        "    input:\n      label: stored\n      token: <% st2kv('system.deploy.token', decrypt => true) %>\n"
    ),
    "rules/on_go.yaml": (
        "name: on_go\npack: leaky\nenabled: true\ntrigger:\n  type: leaky.go\n"
        "action:\n  ref: leaky.show\n  parameters:\n    label: '{{ trigger.label }}'\n"
        "    token: '{{ st2kv.system.deploy.token | decrypt_kv }}'\n"
    ),
    # so that the action trigger's events are emitted and stored
    "rules/after_show.yaml": (
        "name: after_show\npack: leaky\nenabled: true\ntrigger:\n  type: core.st2.generic.actiontrigger\n"
        "criteria:\n  trigger.action_name:\n    type: equals\n    pattern: never\n"
        "action:\n  ref: core.noop\n"
    ),
}


async def cli(api: Api, *args: str) -> str:
    """``attune ARGS`` as an admin: what it printed (stdout and stderr)."""
    code, out, err = await attune(api, *args)
    assert code == 0, (args, out, err)
    return out + err


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def write_pack(root: Path) -> Path:
    pack = root / "packs" / "leaky"
    for name, text in PACK.items():
        (pack / name).parent.mkdir(parents=True, exist_ok=True)
        (pack / name).write_text(text)
    (root / "configs").mkdir()
    (root / "configs" / "leaky.yaml").write_text(f"api_token: {CONFIG_SECRET}\n")
    return pack


async def stream_messages(nats_url: str, prefix: str) -> str:
    """Every message kept in the prefix's JetStream streams and KV buckets, subjects and headers too."""
    nc = await nats.connect(nats_url, connect_timeout=5)
    parts: list[str] = []
    try:
        jsm = nc.jsm()
        for info in await jsm.streams_info():
            name = info.config.name or ""
            if not (name.startswith(f"{prefix.upper()}_") or name.startswith(f"KV_{prefix}_")):
                continue
            if not info.state.messages:
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    msg = await jsm.get_msg(name, seq)
                    parts += [name, msg.subject, json.dumps(msg.headers or {}), (msg.data or b"").decode()]
    finally:
        await nc.close()
    return "\n".join(parts)


async def record_sse(http: httpx.AsyncClient, path: str, into: list[str]) -> None:
    async with http.stream("GET", path, timeout=None) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            into.append(chunk)


async def test_known_secrets_reach_the_action_and_nothing_else(
    api: Api, services: Services, tmp_path: Path
) -> None:
    async with api.client("admin") as admin:
        registered = await admin.post("/api/v1/packs/register", json={"path": str(write_pack(tmp_path))})
    assert registered.status_code == 200, registered.text
    assert registered.json()["workflow_problems"] == {}
    env = {**FAST, "ATTUNE__EXECUTOR__NAME": "ex-leak", "ATTUNE__PACKS__HOME": str(tmp_path / "home")}
    executor = await services("attune-executor", env=env)
    sensor = await services("attune-sensor", env={"ATTUNE__PACKS__HOME": str(tmp_path / "home")})
    shown: list[str] = []  # everything a person or a client was shown
    sse: list[str] = []
    async with api.client("admin") as admin:
        watchers = [
            asyncio.create_task(record_sse(admin, f"/api/v1/{kind}/stream", sse))
            for kind in ("executions", "events", "enforcements")
        ]
        try:
            shown.append(await cli(api, "key", "set", "deploy.token", KV_SECRET, "--encrypt"))
            # through NATS, as producers publish: the rule renders the key with decrypt_kv
            shown.append(await cli(api, "event", "publish", "leaky.go", '{"label": "ruled"}'))
            # through the API: a secret parameter, straight and down a workflow
            for ref, params in (
                ("leaky.show", {"label": "requested", "token": PARAM_SECRET}),
                ("leaky.flow", {"token": PARAM_SECRET}),
            ):
                created = await admin.post(
                    "/api/v1/executions", json={"action_ref": ref, "parameters": params}
                )
                assert created.status_code == 201, created.text
                shown.append(created.text)

            async def all_done() -> list[dict[str, Any]] | None:
                rows = (await admin.get("/api/v1/executions", params={"limit": 100})).json()["data"]
                shows = [x for x in rows if x["action_ref"] == "leaky.show" and x["status"] == "completed"]
                flows = [x for x in rows if x["action_ref"] == "leaky.flow" and x["status"] == "completed"]
                return rows if len(shows) == 4 and flows else None

            rows = await wait_for(all_done, 90, "four leaky.show runs and the workflow to complete")
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

        # the action got every secret in clear
        results = {
            x["result"]["result"]["label"]: x["result"]["result"]
            for x in rows
            if x["action_ref"] == "leaky.show"
        }
        assert set(results) == {"ruled", "requested", "given", "stored"}
        expected_token = {
            "ruled": KV_SECRET,
            "requested": PARAM_SECRET,
            "given": PARAM_SECRET,
            "stored": KV_SECRET,
        }
        for label, result in results.items():
            assert result["token"] == digest(expected_token[label]), label
            assert result["config"] == digest(CONFIG_SECRET) and result["kv"] == digest(KV_SECRET), label
        assert all(x["config"].get("token") == "********" for x in rows if "token" in x["config"])

        # what people and clients can read: the API, the CLI
        paths = [
            "/api/v1/executions?limit=100",
            "/api/v1/events?limit=100",
            "/api/v1/enforcements?limit=100",
            "/api/v1/keys",
            "/api/v1/keys/deploy.token",
            "/api/v1/packs/leaky",
            "/api/v1/deadletters",
            "/api/v1/inquiries",
        ]
        for x in rows:
            paths += [f"/api/v1/executions/{x['id']}", f"/api/v1/executions/{x['id']}/history"]
            if x["action_ref"] == "leaky.flow":
                paths.append(f"/api/v1/executions/{x['id']}/children")
        for path in paths:
            response = await admin.get(path)
            assert response.status_code == 200, (path, response.text)
            shown.append(response.text)
        for args in (
            ("execution", "list"),
            ("execution", "get", str(rows[0]["id"])),
            ("key", "list"),
            ("key", "get", "deploy.token"),
            ("event", "list"),
            ("enforcement", "list"),
        ):
            shown.append(await cli(api, *args))
        # the positive control: an admin asking to decrypt sees it (and the read is logged, without it)
        decrypted = await admin.get("/api/v1/keys/deploy.token", params={"decrypt": "true"})
        assert decrypted.json()["value"] == KV_SECRET

    await executor.terminate()
    await sensor.terminate()
    conn = await api.db()
    try:
        stored = await dump_database(conn)
    finally:
        await conn.close()
    messages = await stream_messages(api.settings.nats.url, api.settings.nats.prefix)
    logs = {p.name: p.output() for p in (executor, sensor, api.process)}
    assert "actiontrigger" in stored  # the action trigger's payloads are among the rows searched
    # the workflow's state is sealed: its context holds the token
    conn = await api.db()
    try:
        assert await conn.fetchval("SELECT count(*) FROM workflow_execution WHERE secrets IS NOT NULL") == 1
    finally:
        await conn.close()
    places = {
        "API and CLI": "\n".join(shown),
        "SSE": "".join(sse),
        "database": stored,
        "NATS": messages,
        **logs,
    }
    assert sum(len(text) for text in places.values()) > 10_000
    leaks = [(secret, place) for secret in SECRETS for place, text in places.items() if secret in text]
    assert leaks == []
