"""Workflows through the API: run one, list its children, pause, resume, cancel; the routes are in
the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from attune_shared.packs import register_pack
from attune_shared.processes import ServiceProcess

from ..executor.conftest import FAST
from ..workflows.stack import PACK_DIR
from .harness import Api, problem


async def _until(
    http: httpx.AsyncClient, path: str, check: Callable[[Any], bool], timeout: float = 20
) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            body = (await http.get(path)).json()
            if check(body):
                return body
            await asyncio.sleep(0.05)


async def test_run_pause_resume_cancel_and_children(
    api: Api, services: Callable[..., Awaitable[ServiceProcess]]
) -> None:
    conn = await api.db()
    try:
        await register_pack(conn, PACK_DIR)
    finally:
        await conn.close()
    await services("attune-executor", FAST)
    async with api.client("operator") as http:
        created = await http.post(
            "/api/v1/executions", json={"action_ref": "wftest.pausable_parent", "parameters": {}}
        )
        assert created.status_code == 201, created.text
        x = created.json()
        # its nested workflow, and the task that one runs
        children = await _until(
            http,
            f"/api/v1/executions/{x['id']}/children",
            lambda b: len(b["data"]) == 1 and b["data"][0]["workflow_def"],
        )
        inner = children["data"][0]
        assert (inner["task_name"], inner["task_item"], inner["parent"]) == ("inner", None, x["id"])
        await _until(
            http,
            f"/api/v1/executions/{inner['id']}/children",
            lambda b: [(c["task_name"], c["status"]) for c in b["data"]] == [("slow", "running")],
        )

        paused = await http.post(f"/api/v1/executions/{x['id']}/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "pausing" and paused.json()["execution"]["id"] == x["id"]
        await _until(http, f"/api/v1/executions/{x['id']}", lambda b: b["status"] == "paused")
        again = await http.post(f"/api/v1/executions/{x['id']}/pause")  # a paused workflow stays so
        assert again.status_code == 200 and again.json()["status"] == "paused"
        resumed = await http.post(f"/api/v1/executions/{x['id']}/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] in ("resuming", "running")
        done = await _until(http, f"/api/v1/executions/{x['id']}", lambda b: b["status"] == "completed")
        assert done["result"] == {"output": {"inner_said": "resumed"}}
        body = problem(await http.post(f"/api/v1/executions/{x['id']}/resume"), 409)
        assert body["detail"] == "the workflow is already completed"
        tasks = (await http.get(f"/api/v1/executions/{x['id']}/children")).json()
        assert [(c["task_name"], c["status"]) for c in tasks["data"]] == [
            ("inner", "completed"),
            ("last", "completed"),
        ]
        assert tasks["next"] is None
        first = (await http.get(f"/api/v1/executions/{x['id']}/children", params={"limit": 1})).json()
        assert [c["task_name"] for c in first["data"]] == ["inner"]
        rest = (
            await http.get(f"/api/v1/executions/{x['id']}/children", params={"after_id": first["next"]})
        ).json()
        assert [c["task_name"] for c in rest["data"]] == ["last"]

        # cancel cascades to the running children
        created = await http.post("/api/v1/executions", json={"action_ref": "wftest.cancellable"})
        y = created.json()
        await _until(
            http,
            f"/api/v1/executions/{y['id']}/children",
            lambda b: (
                {c["task_name"]: c["status"] for c in b["data"]} == {"long": "running", "nested": "running"}
            ),
        )
        cancelled = await http.post(f"/api/v1/executions/{y['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["outcome"] == "canceling"
        done = await _until(http, f"/api/v1/executions/{y['id']}", lambda b: b["status"] == "cancelled")
        assert done["result"] == {"output": None}
        tasks = (await http.get(f"/api/v1/executions/{y['id']}/children")).json()
        assert {c["task_name"]: c["status"] for c in tasks["data"]} == {
            "long": "cancelled",
            "nested": "cancelled",
        }

        # pause and resume are for workflows
        long = next(c for c in tasks["data"] if c["task_name"] == "long")
        body = problem(await http.post(f"/api/v1/executions/{long['id']}/pause"), 409)
        assert "is not a workflow" in str(body["detail"])
        problem(await http.post("/api/v1/executions/99999999/resume"), 404)
        problem(await http.get("/api/v1/executions/99999999/children"), 404)
    async with api.client("viewer") as http:
        problem(await http.post(f"/api/v1/executions/{x['id']}/pause"), 403)
        document = (await http.get("/openapi.json")).json()
    for path in (
        "/api/v1/executions/{id}/children",
        "/api/v1/executions/{id}/pause",
        "/api/v1/executions/{id}/resume",
    ):
        assert path in document["paths"], path
    assert "task_name" in document["components"]["schemas"]["Execution"]["properties"]
