"""A StackStorm pack installed through the API from a git repository, run by the services as
processes: its actions, its sensors, its rules on core.st2.* triggers and on the action trigger,
its webhook, its timer; what cannot fire says why; secrets never shown."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from attune_shared.processes import ServiceProcess, console_script

from ..api.harness import Api, problem
from ..executor.conftest import FAST
from ..executor.helpers import wait_for
from .conftest import API_TOKEN
from .repos import make_repo

pytestmark = pytest.mark.slow

HOME = Path(tempfile.mkdtemp(prefix="attune-packs-home-"))
#: the API process installs packs under this home (the services started below share it)
API_ENV = {"ATTUNE__PACKS__HOME": str(HOME)}
SERVICES_ENV = {
    **API_ENV,
    **FAST,
    "ATTUNE__SENSOR__SENSORS_RECONCILE_INTERVAL": "0.5",
    "ATTUNE__SENSOR__TIMER_LEASE_TTL": "2",
    "ATTUNE__SENSOR__TRIGGER_CACHE_TTL": "0",
}

Services = Callable[..., Awaitable[ServiceProcess]]


@pytest_asyncio.fixture(scope="module", autouse=True)
async def _home() -> AsyncIterator[None]:
    yield
    shutil.rmtree(HOME, ignore_errors=True)


async def attune(api: Api, *args: str, role: str = "admin") -> tuple[int, str]:
    env = {
        **api.env,
        "ATTUNE_API_URL": api.url,
        "ATTUNE_API_KEY": api.keys[role],
        "COLUMNS": "250",
        **API_ENV,
    }
    proc = await asyncio.create_subprocess_exec(
        console_script("attune"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def executions(http: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/executions", params=filters)
    assert response.status_code == 200, response.text
    return [x for x in response.json()["data"] if x["status"] in ("completed", "failed", "timeout")]


async def test_a_stackstorm_pack_installed_from_git_runs_unchanged(
    api: Api, services: Services, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (HOME / "configs").mkdir(parents=True)
    (HOME / "configs" / "st2demo.yaml").write_text(f"api_token: {API_TOKEN}\ninbox: {inbox}\n")

    async with api.client("admin") as admin, api.client("operator") as operator:
        # install: admin only, from a local git repository
        problem(await operator.post("/api/v1/packs/install", json={"source": str(repo)}), 403)
        installed = await admin.post("/api/v1/packs/install", json={"source": str(repo)}, timeout=300)
        assert installed.status_code == 200, installed.text
        report = installed.json()
        assert (report["pack_ref"], report["outcome"], report["version"]) == ("st2demo", "installed", "0.1.0")
        assert sorted(report["registration"]["sensors"]["created"]) == [
            "st2demo.CounterSensor",
            "st2demo.InboxWatcher",
        ]
        pack = (await admin.get("/api/v1/packs/st2demo")).json()
        assert pack["config"]["api_token"] == "********" and pack["source"] == str(repo)
        assert API_TOKEN not in installed.text + json.dumps(pack)

        # a rule naming a pack not installed registered, and says why it cannot fire
        later = (await operator.get("/api/v1/rules/st2demo.later")).json()
        assert later["cannot_fire"] == ["action otherpack.do_it is not installed"]
        code, out = await attune(api, "rule", "get", "st2demo.later", role="viewer")
        assert code == 0 and "cannot fire: action otherpack.do_it is not installed" in out
        flow = (await operator.get("/api/v1/rules/st2demo.on_hook")).json()
        assert flow["cannot_fire"] == []

        await services("attune-executor", env={**SERVICES_ENV, "ATTUNE__EXECUTOR__NAME": "ex-st2"})
        await services("attune-sensor", env=SERVICES_ENV)

        # a python action with a secret parameter: masked wherever shown, clear for the action
        created = await operator.post(
            "/api/v1/executions",
            json={"action_ref": "st2demo.hello", "parameters": {"name": "Zed", "token": "t0k3n!"}},
        )
        assert created.status_code == 201, created.text
        hello_id = created.json()["id"]
        assert created.json()["config"]["token"] == "********"

        async def hello_done() -> dict[str, Any] | None:
            x = (await operator.get(f"/api/v1/executions/{hello_id}")).json()
            return x if x["status"] in ("completed", "failed") else None

        hello = await wait_for(hello_done, 60, "the python action")
        assert hello["status"] == "completed", hello["result"]
        assert hello["result"]["result"]["token_length"] == 6 and hello["config"]["token"] == "********"
        assert hello["result"]["result"]["message"] == "HELLO ZED!"  # actions/lib, the pack config

        # a StackStorm webhook: headers and body, JSON and form-encoded
        hook = await operator.post(
            "/api/v1/webhooks/st2demo/hook", json={"name": "Ann"}, headers={"X-Demo": "yes"}
        )
        assert (hook.status_code, hook.json()) == (202, {"name": "Ann"})
        echoed = await wait_for(
            lambda: executions(operator, action_ref="core.echo", rule_ref="st2demo.on_hook"),
            30,
            "the webhook rule",
        )
        assert echoed[0]["status"] == "completed" and echoed[0]["result"]["stdout"] == "Ann via yes"
        [event] = (await operator.get("/api/v1/events", params={"trigger_ref": "core.st2.webhook"})).json()[
            "data"
        ]
        assert event["payload"]["body"] == {"name": "Ann"} and event["payload"]["headers"]["X-Demo"] == "yes"
        assert not {"x-api-key", "authorization"} & set(event["payload"]["headers_lower"])
        problem(await operator.post("/api/v1/webhooks/st2demo/nowhere", json={}), 404)

        # a form body without the header the rule reads: the parameters do not render, and that is recorded
        form = await operator.post("/api/v1/webhooks/st2demo/hook", data={"name": "Bo"})
        assert (form.status_code, form.json()) == (202, {"name": ["Bo"]})

        async def failed_enforcement() -> list[dict[str, Any]]:
            params = {"rule_ref": "st2demo.on_hook", "status": "disabled"}
            return (await operator.get("/api/v1/enforcements", params=params)).json()["data"]

        [failed] = await wait_for(failed_enforcement, 30, "the disabled enforcement")
        assert "action_params.message" in failed["failure_reason"] and "X-Demo" in failed["failure_reason"]
        code, out = await attune(
            api, "enforcement", "list", "--rule", "st2demo.on_hook", "--status", "disabled"
        )
        assert code == 0 and "X-Demo" in out

        # sensors: a dropped file -> the watcher's event -> greet -> (action trigger) -> hello
        (inbox / "greet-bea").write_text("Bea")

        async def chained() -> list[dict[str, Any]]:
            return await executions(operator, action_ref="st2demo.hello", rule_ref="st2demo.after_greet")

        [chain] = await wait_for(chained, 60, "the chained hello")
        assert chain["status"] == "completed" and chain["result"]["result"]["message"] == "HELLO HI BEA!"
        ticks = await wait_for(
            lambda: executions(operator, action_ref="st2demo.nothing", rule_ref="st2demo.on_tick"),
            30,
            "a tick",
        )
        assert ticks[0]["result"]["succeeded"] is True

        sensor = (await operator.get("/api/v1/sensors/st2demo.CounterSensor")).json()
        assert sensor["process"]["status"] == "running" and sensor["process"]["restarts"] == 0
        code, out = await attune(api, "sensor", "list", role="viewer")
        assert code == 0 and "st2demo.CounterSensor" in out and "running" in out

        # StackStorm's interval timer, once its rule is enabled
        assert (await operator.post("/api/v1/rules/st2demo.every_second/enable")).status_code == 200
        timed = await wait_for(
            lambda: executions(operator, action_ref="st2demo.nothing", rule_ref="st2demo.every_second"),
            30,
            "the interval timer",
        )
        assert timed
        [timer_event, *_] = (
            await operator.get("/api/v1/events", params={"trigger_ref": "core.st2.IntervalTimer"})
        ).json()["data"]
        assert timer_event["payload"]["schedule"] is None and timer_event["payload"]["executed_at"]
        assert (await operator.post("/api/v1/rules/st2demo.every_second/disable")).status_code == 200

        # a sensor disabled through the CLI stops
        code, out = await attune(api, "sensor", "disable", "st2demo.CounterSensor", role="operator")
        assert code == 0, out

        async def stopped() -> bool:
            sensor = (await operator.get("/api/v1/sensors/st2demo.CounterSensor")).json()
            return sensor["process"]["status"] == "stopped"

        await wait_for(stopped, 20, "the disabled sensor to stop")

        # removed: rows and files
        assert (await admin.delete("/api/v1/packs/st2demo")).status_code == 204
        assert not (HOME / "packs" / "st2demo").exists() and not (HOME / "virtualenvs" / "st2demo").exists()
        problem(await admin.delete("/api/v1/packs/core"), 409)
