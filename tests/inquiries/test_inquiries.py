"""Inquiries (core.ask) on the real services: a workflow pauses at its ask task until a person
answers through the API or the CLI, refuses what does not fit the schema or comes from the wrong
person, times out into its failure branch, and resumes after an answer given while no executor ran."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from attune_shared.packs import register_pack
from attune_shared.processes import ServiceProcess

from ..api.harness import Api, problem
from ..cli.test_cli import attune
from ..executor.conftest import FAST
from ..executor.helpers import wait_for
from ..workflows.stack import PACK_DIR

pytestmark = pytest.mark.slow

Services = Callable[..., Awaitable[ServiceProcess]]


async def _get(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _run(http: httpx.AsyncClient, **params: Any) -> int:
    created = await http.post(
        "/api/v1/executions", json={"action_ref": "wftest.approval", "parameters": params}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _status(
    http: httpx.AsyncClient, execution: int, *statuses: str, timeout: float = 30
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        x = await _get(http, f"/api/v1/executions/{execution}")
        return x if x["status"] in statuses else None

    return await wait_for(check, timeout, f"execution {execution} to be {' or '.join(statuses)}")


async def _ask_of(http: httpx.AsyncClient, workflow: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rows = (await _get(http, "/api/v1/inquiries", parent=workflow))["data"]
        return rows[0] if rows else None

    return await wait_for(check, 30, f"the inquiry of workflow {workflow}")


async def _prepare(api: Api) -> None:
    conn = await api.db()
    try:
        await register_pack(conn, PACK_DIR)
    finally:
        await conn.close()


async def test_a_workflow_waits_for_an_answer_given_through_the_api(api: Api, services: Services) -> None:
    await _prepare(api)
    await services("attune-executor", env={**FAST, "ATTUNE__EXECUTOR__NAME": "ex-inq"})
    await services("attune-sensor")
    async with api.client("operator") as operator, api.client("viewer") as viewer:
        workflow = await _run(operator, host="db-7")
        inquiry = await _ask_of(operator, workflow)
        await _status(operator, workflow, "paused")
        ask = await _get(operator, f"/api/v1/executions/{inquiry['id']}")
        assert ask["status"] == "pending" and ask["parent"] == workflow and ask["task_name"] == "ask"
        assert inquiry["status"] == "pending" and inquiry["route"] == "ops" and inquiry["ttl"] == 60
        assert inquiry["schema"]["properties"]["approved"]["type"] == "boolean"

        # a rule could notify someone: the new inquiry is an event on StackStorm's trigger
        async def inquiry_event() -> list[Any] | None:
            rows = (await _get(operator, "/api/v1/events", trigger_ref="core.st2.generic.inquiry"))["data"]
            return rows or None

        [event] = await wait_for(inquiry_event, 20, "the core.st2.generic.inquiry event")
        assert event["payload"] == {"id": str(inquiry["id"]), "route": "ops"}

        path = f"/api/v1/inquiries/{inquiry['id']}/respond"
        wrong = problem(await operator.post(path, json={"response": {"approved": "yes please"}}), 422)
        assert wrong["errors"][0]["field"] == "response.approved", wrong
        missing = problem(await operator.post(path, json={"response": {"reason": "no flag"}}), 422)
        assert missing["errors"][0]["field"] == "response.approved", missing
        refused = problem(await viewer.post(path, json={"response": {"approved": True}}), 403)
        assert "does not have permission to respond" in str(refused["detail"])
        assert (await _get(operator, f"/api/v1/inquiries/{inquiry['id']}"))["status"] == "pending"

        answered = await operator.post(path, json={"response": {"approved": True, "reason": "disk replaced"}})
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "responded" and answered.json()["responded_by"] == "operator-user"
        done = await _status(operator, workflow, "completed", "failed")
        assert done["status"] == "completed", done["result"]
        response = {"approved": True, "reason": "disk replaced"}
        assert done["result"] == {
            "output": {"outcome": "deployed db-7", "reason": "disk replaced", "answer": response}
        }
        ask = await _get(operator, f"/api/v1/executions/{inquiry['id']}")
        assert ask["status"] == "completed" and ask["result"]["response"] == response
        assert set(ask["result"]) == {"schema", "roles", "users", "route", "ttl", "response"}
        again = problem(await operator.post(path, json={"response": {"approved": False}}), 409)
        assert "has already been responded to" in str(again["detail"])


async def test_cli_answers_timeouts_cancels_and_an_answer_while_no_executor_runs(
    api: Api, services: Services
) -> None:
    await _prepare(api)
    executor = await services("attune-executor", env={**FAST, "ATTUNE__EXECUTOR__NAME": "ex-inq2"})
    async with api.client("operator") as operator:
        # answered from the CLI while the executor is down: the workflow goes on once it is back
        refused, timed_out, cancelled = [await _run(operator, ttl=1) for _ in range(3)]
        asks = [await _ask_of(operator, w) for w in (refused, timed_out, cancelled)]
        for w in (refused, timed_out, cancelled):
            await _status(operator, w, "paused")
        await executor.kill()
        code, out, err = await attune(api, "inquiry", "list", "--json", role="operator")
        assert code == 0 and {a["id"] for a in asks} <= {int(i) for i in _ids(out)}, err
        code, out, err = await attune(
            api, "inquiry", "respond", str(asks[0]["id"]), "approved=false", role="operator"
        )
        assert code == 0 and "responded" in out, err
        code, _, err = await attune(
            api, "inquiry", "respond", str(asks[1]["id"]), "approved=maybe", role="operator"
        )
        assert code == 1 and "response.approved" in err
        # the answer resumed the workflow; its refusal branch is an action waiting for an executor
        children = (await _get(operator, f"/api/v1/executions/{refused}/children"))["data"]
        assert {(c["task_name"], c["status"]) for c in children} == {
            ("ask", "completed"),
            ("refused", "requested"),
        }
        assert (await _get(operator, f"/api/v1/executions/{refused}"))["status"] == "running"

        # ttl: the maintenance leader times out an inquiry past its time (made due here)
        conn = await api.db()
        try:
            await conn.execute(
                "UPDATE inquiry SET timeout_at = now() - interval '1 second' WHERE id = $1", asks[1]["id"]
            )
        finally:
            await conn.close()
        # cancelling a workflow cancels the question it waits on
        assert (await operator.post(f"/api/v1/executions/{cancelled}/cancel")).status_code == 200
        await services("attune-executor", env={**FAST, "ATTUNE__EXECUTOR__NAME": "ex-inq3"})

        done = await _status(operator, refused, "completed", "failed")
        assert done["result"] == {
            "output": {"outcome": "refused", "reason": None, "answer": {"approved": False}}
        }
        gave_up = await _status(operator, timed_out, "completed", "failed")
        assert (
            gave_up["status"] == "completed" and gave_up["result"]["output"]["outcome"] == "nobody answered"
        )
        ask = await _get(operator, f"/api/v1/executions/{asks[1]['id']}")
        assert ask["status"] == "timeout"
        assert (await _get(operator, f"/api/v1/inquiries/{asks[1]['id']}"))["status"] == "timeout"
        late = problem(
            await operator.post(
                f"/api/v1/inquiries/{asks[1]['id']}/respond", json={"response": {"approved": True}}
            ),
            409,
        )
        assert "timed out" in str(late["detail"])
        stopped = await _status(operator, cancelled, "cancelled", "failed")
        assert stopped["status"] == "cancelled", stopped["result"]
        assert stopped["result"]["output"]["answer"] is None  # the question was never answered
        assert (await _get(operator, f"/api/v1/inquiries/{asks[2]['id']}"))["status"] == "cancelled"
        assert (await _get(operator, f"/api/v1/executions/{asks[2]['id']}"))["status"] == "cancelled"


def _ids(out: str) -> list[int]:
    return [row["id"] for row in json.loads(out)]
