"""Analytics endpoints over the hourly rollups (plain-PostgreSQL views here; the TimescaleDB tier runs
the same queries against continuous aggregates in tests/timescale)."""

from __future__ import annotations

from datetime import timedelta

from attune_shared.repos import (
    EnforcementRepository,
    ExecutionRepository,
    NewEnforcement,
    NewExecution,
    WorkerRepository,
)
from attune_shared.statuses import ExecutionStatus, WorkerStatus

from ..shared.factories import make_action, make_event, make_rule, make_trigger, now, set_status
from .harness import Api, problem

S = ExecutionStatus


async def _seed(api: Api) -> None:
    conn = await api.db()
    try:
        trigger = await make_trigger(conn, "an.alert")
        action = await make_action(conn, "an.run")
        rule = await make_rule(conn, "an.on_alert", trigger=trigger, action=action)
        for _ in range(3):
            event = await make_event(conn, trigger.ref)
            await EnforcementRepository(conn).create_many(
                [NewEnforcement(rule.id, rule.ref, trigger.ref, event.id, event.created)]
            )
        executions = ExecutionRepository(conn)
        outcomes = [S.COMPLETED, S.COMPLETED, S.FAILED, S.TIMEOUT]
        for outcome in outcomes:
            x = await executions.create(NewExecution(action_ref=action.ref))
            await set_status(executions, x.id, x.created, S.REQUESTED, S.RUNNING)
            await set_status(executions, x.id, x.created, S.RUNNING, outcome)
        worker = await WorkerRepository(conn).register(name="an-worker", host="h", pid=1, concurrency=1)
        await WorkerRepository(conn).set_status(worker.id, WorkerStatus.INACTIVE)
    finally:
        await conn.close()


async def test_analytics_endpoints(api: Api) -> None:
    await _seed(api)
    hour = now().replace(minute=0, second=0, microsecond=0)
    async with api.client("viewer") as http:

        async def get(path: str, **params: object) -> dict:
            response = await http.get(f"/api/v1/analytics/{path}", params={"ref": "an.*", **params})
            assert response.status_code == 200, response.text
            return response.json()

        events = await get("events/volume")
        assert [(p["ref"], p["value"]) for p in events["points"]] == [("an.alert", 3)]
        assert events["points"][0]["bucket"].startswith(hour.strftime("%Y-%m-%dT%H:00:00"))
        assert (await get("enforcements/volume"))["points"][0] == {
            "bucket": events["points"][0]["bucket"],
            "ref": "an.on_alert",
            "value": 3,
        }
        assert [p["value"] for p in (await get("executions/volume"))["points"]] == [4]
        assert [p["value"] for p in (await get("executions/volume", status="completed"))["points"]] == [2]
        assert [p["value"] for p in (await get("executions/throughput"))["points"]] == [4]
        status = {p["status"]: p["value"] for p in (await get("executions/status"))["points"]}
        assert status == {"requested": 4, "running": 4, "completed": 2, "failed": 1, "timeout": 1}
        only_failed = (await get("executions/status", status="failed"))["points"]
        assert [(p["status"], p["value"]) for p in only_failed] == [("failed", 1)]
        rate = await get("executions/failure-rate")
        assert (
            rate["total_terminal"],
            rate["completed_count"],
            rate["failed_count"],
            rate["timeout_count"],
        ) == (4, 2, 1, 1)
        assert rate["failure_rate_pct"] == 50.0 and [p["value"] for p in rate["points"]] == [50.0]
        workers = (await http.get("/api/v1/analytics/workers/status", params={"ref": "an-worker"})).json()
        assert {p["status"]: p["value"] for p in workers["points"]} == {"active": 1, "inactive": 1}

        # the window: nothing in a window that ended an hour ago; `hours` is clamped; since >= until refused
        past = await get("events/volume", until=(hour - timedelta(hours=1)).isoformat())
        assert past["points"] == []
        wide = await get("events/volume", hours=10**6)
        assert wide["since"] < wide["until"] and len(wide["points"]) == 1
        narrow = await get("events/volume", hours=0)
        assert narrow["points"][0]["value"] == 3  # one hour back still includes the current hour's bucket
        problem(
            await http.get(
                "/api/v1/analytics/events/volume",
                params={"since": now().isoformat(), "until": (now() - timedelta(hours=2)).isoformat()},
            ),
            422,
        )
        problem(
            await http.get("/api/v1/analytics/events/volume", params={"until": "0001-01-01T00:00:00"}), 422
        )
