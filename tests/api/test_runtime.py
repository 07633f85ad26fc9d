"""Runtime records: events, enforcements, executions, workers; run, cancel, rerun; history."""

from __future__ import annotations

from datetime import timedelta

import nats

from attune_shared.bus import DeadLetter
from attune_shared.bus.messages import DLQ_REASON_HEADER
from attune_shared.repos import (
    EnforcementRepository,
    ExecutionRepository,
    NewEnforcement,
    NewExecution,
    RuleRepository,
    WorkerRepository,
)
from attune_shared.statuses import EnforcementStatus, ExecutionStatus, WorkerStatus

from ..shared.factories import make_action, make_event, make_rule, make_trigger, now, set_status
from .harness import Api, problem


async def _seed_chain(api: Api, tag: str) -> dict[str, int]:
    """trigger -> event -> enforcement (processed) -> execution (completed); plus a dangling one."""
    conn = await api.db()
    try:
        trigger = await make_trigger(conn, f"{tag}.alert")
        action = await make_action(conn, f"{tag}.run")
        rule = await make_rule(conn, f"{tag}.on_alert", trigger=trigger, action=action)
        event = await make_event(conn, trigger.ref, {"host": "db1"})
        [enforcement] = await EnforcementRepository(conn).create_many(
            [NewEnforcement(rule.id, rule.ref, trigger.ref, event.id, event.created, config={"x": 1})]
        )
        executions = ExecutionRepository(conn)
        [(execution, _)] = await executions.create_for_enforcements(
            [
                NewExecution(
                    action_ref=action.ref,
                    action=action.id,
                    enforcement=enforcement.id,
                    created=enforcement.created,
                    rule_ref=rule.ref,
                    trigger_ref=trigger.ref,
                )
            ],
            resolve=[(enforcement.id, enforcement.created, EnforcementStatus.PROCESSED, None)],
        )
        for old, new in (
            (ExecutionStatus.REQUESTED, ExecutionStatus.SCHEDULING),
            (ExecutionStatus.SCHEDULING, ExecutionStatus.SCHEDULED),
            (ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING),
        ):
            assert await set_status(executions, execution.id, execution.created, old, new)
        assert await set_status(
            executions,
            execution.id,
            execution.created,
            ExecutionStatus.RUNNING,
            ExecutionStatus.COMPLETED,
            result={"ok": True},
        )
        child = await executions.create(NewExecution(action_ref=action.ref, parent=execution.id))
        # a pending enforcement whose event is gone, and an execution whose enforcement is gone
        [pending] = await EnforcementRepository(conn).create_many(
            [NewEnforcement(rule.id, rule.ref, trigger.ref, 987654321, now())]
        )
        orphan = await executions.create(NewExecution(action_ref=action.ref, enforcement=123456789))
        return {
            "event": event.id,
            "enforcement": enforcement.id,
            "execution": execution.id,
            "child": child.id,
            "pending": pending.id,
            "orphan": orphan.id,
            "rule": rule.id,
            "trigger": trigger.id,
        }
    finally:
        await conn.close()


async def test_events_enforcements_executions_with_joins(api: Api) -> None:
    ids = await _seed_chain(api, "rt")
    async with api.client("viewer") as http:
        events = (await http.get("/api/v1/events", params={"trigger_ref": "rt.*"})).json()
        assert [e["id"] for e in events["data"]] == [ids["event"]]
        event = (await http.get(f"/api/v1/events/{ids['event']}")).json()
        assert event["payload"] == {"host": "db1"} and [e["id"] for e in event["enforcements"]] == [
            ids["enforcement"]
        ]
        problem(await http.get("/api/v1/events/99999999"), 404)

        enforcement = (await http.get(f"/api/v1/enforcements/{ids['enforcement']}")).json()
        assert enforcement["status"] == "processed" and enforcement["resolved_at"] is not None
        assert enforcement["links"]["event"]["id"] == ids["event"]
        assert enforcement["links"]["rule"] == {"id": ids["rule"], "ref": "rt.on_alert"}
        assert [x["id"] for x in enforcement["executions"]] == [ids["execution"]]
        pending = (await http.get(f"/api/v1/enforcements/{ids['pending']}")).json()
        assert pending["status"] == "created" and pending["resolved_at"] is None
        assert pending["links"]["event"] is None  # dangling: the event does not exist
        listed = (
            await http.get("/api/v1/enforcements", params={"rule_ref": "rt.on_alert", "status": "created"})
        ).json()
        assert [e["id"] for e in listed["data"]] == [ids["pending"]]
        by_event = (await http.get("/api/v1/enforcements", params={"event": ids["event"]})).json()
        assert [e["id"] for e in by_event["data"]] == [ids["enforcement"]]

        execution = (await http.get(f"/api/v1/executions/{ids['execution']}")).json()
        assert execution["status"] == "completed" and execution["result"] == {"ok": True}
        assert execution["links"]["enforcement"]["id"] == ids["enforcement"]
        assert execution["links"]["rule"] == {"id": ids["rule"], "ref": "rt.on_alert"}
        assert execution["links"]["trigger"] == {"id": ids["trigger"], "ref": "rt.alert"}
        assert execution["links"]["parent"] is None
        child = (await http.get(f"/api/v1/executions/{ids['child']}")).json()
        assert child["links"]["parent"] == {
            "id": ids["execution"],
            "action_ref": "rt.run",
            "status": "completed",
        }
        orphan = (await http.get(f"/api/v1/executions/{ids['orphan']}")).json()
        assert orphan["enforcement"] == 123456789
        assert orphan["links"] == {"enforcement": None, "rule": None, "trigger": None, "parent": None}

        def ids_of(response):
            return [x["id"] for x in response.json()["data"]]

        assert ids_of(
            await http.get("/api/v1/executions", params={"status": "completed", "action_ref": "rt.*"})
        ) == [ids["execution"]]
        both = await http.get(
            "/api/v1/executions",
            params=[("status", "completed"), ("status", "requested"), ("action_ref", "rt.run")],
        )
        assert set(ids_of(both)) == {ids["execution"], ids["child"], ids["orphan"]}
        assert ids_of(await http.get("/api/v1/executions", params={"rule_ref": "rt.on_alert"})) == [
            ids["execution"]
        ]
        assert ids_of(await http.get("/api/v1/executions", params={"trigger_ref": "rt.alert"})) == [
            ids["execution"]
        ]
        assert ids_of(await http.get("/api/v1/executions", params={"enforcement": ids["enforcement"]})) == [
            ids["execution"]
        ]
        assert ids_of(await http.get("/api/v1/executions", params={"parent": ids["execution"]})) == [
            ids["child"]
        ]
        future = (now() + timedelta(hours=1)).isoformat()
        assert (
            ids_of(await http.get("/api/v1/executions", params={"since": future, "action_ref": "rt.run"}))
            == []
        )
        assert (
            len(
                ids_of(await http.get("/api/v1/executions", params={"until": future, "action_ref": "rt.run"}))
            )
            == 3
        )
        naive = (now() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
        assert (
            len(ids_of(await http.get("/api/v1/executions", params={"since": naive, "action_ref": "rt.run"})))
            == 3
        )
        page1 = (await http.get("/api/v1/executions", params={"action_ref": "rt.run", "limit": 2})).json()
        page2 = (
            await http.get(
                "/api/v1/executions", params={"action_ref": "rt.run", "limit": 2, "before_id": page1["next"]}
            )
        ).json()
        assert len(page1["data"]) == 2 and len(page2["data"]) == 1 and page2["next"] is None
        problem(await http.get("/api/v1/executions", params={"status": "sleeping"}), 422)

        history = (await http.get(f"/api/v1/executions/{ids['execution']}/history")).json()
        statuses = [h["new_values"].get("status") for h in history["data"]]
        assert statuses == ["completed", "running", "scheduled", "scheduling", "requested"]
        assert history["data"][0]["changed_fields"] == ["status", "result"]
        first = (await http.get(f"/api/v1/executions/{ids['execution']}/history", params={"limit": 2})).json()
        rest = (
            await http.get(
                f"/api/v1/executions/{ids['execution']}/history",
                params={"limit": 10, "before_id": first["next"]},
            )
        ).json()
        assert [h["id"] for h in first["data"] + rest["data"]] == [h["id"] for h in history["data"]]
        problem(await http.get("/api/v1/executions/99999999/history"), 404)


async def test_run_validate_cancel_rerun(api: Api) -> None:
    async with api.client("operator") as http:
        body = problem(
            await http.post("/api/v1/executions", json={"action_ref": "core.echo", "parameters": {}}), 422
        )
        assert body["errors"] == [{"field": "parameters.message", "message": "required"}]
        body = problem(
            await http.post(
                "/api/v1/executions", json={"action_ref": "core.echo", "parameters": {"message": 5}}
            ),
            422,
        )
        assert body["errors"][0]["field"] == "parameters.message" and "string" in body["errors"][0]["message"]
        body = problem(await http.post("/api/v1/executions", json={"action_ref": "core.nothing"}), 422)
        assert body["errors"][0]["field"] == "action_ref"
        problem(
            await http.post("/api/v1/executions", json={"action_ref": "core.echo", "timeout_seconds": 0}), 422
        )

        created = await http.post(
            "/api/v1/executions",
            json={"action_ref": "core.echo", "parameters": {"message": "hi"}, "timeout_seconds": 30},
        )
        assert created.status_code == 201, created.text
        execution = created.json()
        assert execution["status"] == "requested" and execution["config"]["message"] == "hi"
        assert execution["config"]["cmd"] == "echo hi"  # core.echo: its message shell-quoted
        assert execution["timeout_seconds"] == 30 and execution["executor"] is not None

        rerun = await http.post(
            f"/api/v1/executions/{execution['id']}/rerun", json={"parameters": {"message": "again"}}
        )
        assert rerun.status_code == 201, rerun.text
        assert rerun.json()["id"] != execution["id"] and rerun.json()["config"]["cmd"] == "echo again"
        assert rerun.json()["timeout_seconds"] == 30
        plain_rerun = await http.post(f"/api/v1/executions/{execution['id']}/rerun")
        assert plain_rerun.status_code == 201 and plain_rerun.json()["config"] == execution["config"]
        problem(await http.post("/api/v1/executions/99999999/rerun"), 404)

        cancelled = (await http.post(f"/api/v1/executions/{execution['id']}/cancel")).json()
        assert cancelled["outcome"] == "cancelled" and cancelled["execution"]["result"]["cancelled"] is True
        body = problem(await http.post(f"/api/v1/executions/{execution['id']}/cancel"), 409)
        assert "already cancelled" in str(body["detail"])
        problem(await http.post("/api/v1/executions/99999999/cancel"), 404)

    # a running execution becomes canceling (its executor finishes the job)
    conn = await api.db()
    try:
        running = await ExecutionRepository(conn).create(
            NewExecution(action_ref="core.sleep", status=ExecutionStatus.RUNNING, config={"seconds": 60})
        )
    finally:
        await conn.close()
    async with api.client("operator") as http:
        response = (await http.post(f"/api/v1/executions/{running.id}/cancel")).json()
        assert response["outcome"] == "canceling" and response["execution"]["status"] == "canceling"


async def test_disabled_action_refused(api: Api) -> None:
    conn = await api.db()
    try:
        await make_action(conn, "rtoff.run", enabled=False)
    finally:
        await conn.close()
    async with api.client("operator") as http:
        body = problem(await http.post("/api/v1/executions", json={"action_ref": "rtoff.run"}), 409)
        assert "disabled" in str(body["detail"])


async def test_workers_and_history(api: Api) -> None:
    conn = await api.db()
    try:
        workers = WorkerRepository(conn)
        worker = await workers.register(name="exec-a", host="h1", pid=10, concurrency=4)
        other = await workers.register(name="exec-b", host="h2", pid=11, concurrency=4)
        await workers.heartbeat(worker.id)
        await workers.set_status(worker.id, WorkerStatus.BUSY)
        await workers.set_status(other.id, WorkerStatus.INACTIVE)
    finally:
        await conn.close()
    async with api.client("viewer") as http:
        listed = (await http.get("/api/v1/workers")).json()
        assert {w["name"] for w in listed["data"]} >= {"exec-a", "exec-b"}
        busy = (await http.get("/api/v1/workers", params={"status": "busy"})).json()
        assert [w["name"] for w in busy["data"]] == ["exec-a"]
        assert (await http.get(f"/api/v1/workers/{worker.id}")).json()["host"] == "h1"
        problem(await http.get("/api/v1/workers/99999999"), 404)
        history = (await http.get(f"/api/v1/workers/{worker.id}/history")).json()
        assert [h["operation"] for h in history["data"]] == [
            "UPDATE",
            "INSERT",
        ]  # the heartbeat wrote nothing
        assert history["data"][0]["old_values"] == {"status": "active"}
        assert history["data"][0]["new_values"] == {"status": "busy"}
        problem(await http.get("/api/v1/workers/99999999/history"), 404)


async def test_dangling_rule_reference(api: Api) -> None:
    ids = await _seed_chain(api, "rtdangle")
    conn = await api.db()
    try:
        await RuleRepository(conn).delete_by_ref("rtdangle.on_alert")
    finally:
        await conn.close()
    async with api.client("viewer") as http:
        execution = (await http.get(f"/api/v1/executions/{ids['execution']}")).json()
        assert execution["rule_ref"] == "rtdangle.on_alert"
        assert execution["links"]["rule"] is None and execution["links"]["enforcement"] is not None
        enforcement = (await http.get(f"/api/v1/enforcements/{ids['enforcement']}")).json()
        assert enforcement["links"]["rule"] is None and enforcement["rule_ref"] == "rtdangle.on_alert"


async def test_dead_letters_newest_first_by_reason_and_paged(api: Api) -> None:
    nc = await nats.connect(api.settings.nats.url)
    try:
        js = nc.jetstream()
        prefix = api.settings.nats.prefix
        for i, reason in enumerate(["invalid_body", "max_deliveries", "invalid_body"]):
            letter = DeadLetter(
                reason=reason, detail=f"letter {i}", subject=f"{prefix}.trigger.x.y", body="{"
            )
            await js.publish(
                f"{prefix}.dlq.{reason}",
                letter.model_dump_json().encode(),
                headers={DLQ_REASON_HEADER: reason},
            )
    finally:
        await nc.close()
    async with api.client("viewer") as http:
        everything = (await http.get("/api/v1/deadletters")).json()
        assert [d["detail"] for d in everything["data"]] == ["letter 2", "letter 1", "letter 0"]
        assert everything["next"] is None and everything["data"][0]["subject"].endswith(".trigger.x.y")
        first = (await http.get("/api/v1/deadletters", params={"reason": "invalid_body", "limit": 1})).json()
        assert [d["detail"] for d in first["data"]] == ["letter 2"] and first["next"]
        rest = await http.get(
            "/api/v1/deadletters", params={"reason": "invalid_body", "limit": 1, "before_id": first["next"]}
        )
        assert [d["detail"] for d in rest.json()["data"]] == ["letter 0"]
    async with api.client(None) as http:
        problem(await http.get("/api/v1/deadletters"), 401)
