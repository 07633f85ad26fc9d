"""Catalog endpoints: packs, triggers, sensors, actions, rules, policies, keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest_asyncio

from attune_shared.constants import PACKS_DIR
from attune_shared.repos import TriggerRepository
from attune_shared.secrets import SecretBox

from .harness import Api, problem


class RuleChanges:
    """Collects ``<p>.rule.changed`` messages (core subscription) and waits for them."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self._arrived = asyncio.Event()

    async def on_message(self, msg: nats.aio.msg.Msg) -> None:
        self.seen.append(json.loads(msg.data))
        self._arrived.set()

    async def wait_for(self, rule_ref: str, op: str, timeout: float = 10.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for change in self.seen:
                    if change["rule_ref"] == rule_ref and change["op"] == op:
                        return change
                self._arrived.clear()
                await self._arrived.wait()


@pytest_asyncio.fixture
async def rule_changes(api: Api) -> AsyncIterator[RuleChanges]:
    nc = await nats.connect(api.settings.nats.url)
    changes = RuleChanges()
    await nc.subscribe(f"{api.settings.nats.prefix}.rule.changed", cb=changes.on_message)
    await nc.flush()
    try:
        yield changes
    finally:
        await nc.close()


async def test_packs_register_list_get_update_delete(
    api: Api, rule_changes: RuleChanges, tmp_path: Path
) -> None:
    async with api.client("admin") as http:
        report = await http.post("/api/v1/packs/register", json={"path": str(PACKS_DIR / "examples")})
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["pack_ref"] == "examples"
        assert "examples.page_on_critical" in body["rules"]["created"]
        await rule_changes.wait_for("examples.page_on_critical", "created")
        again = (await http.post("/api/v1/packs/register", json={"path": str(PACKS_DIR / "examples")})).json()
        assert again["rules"]["created"] == [] and "examples.page_on_critical" in again["rules"]["unchanged"]

        pack = (await http.get("/api/v1/packs/examples")).json()
        assert pack["version"] == "1.0.0" and pack["config"]["oncall_channel"] == "#ops-oncall"
        refs = [p["ref"] for p in (await http.get("/api/v1/packs")).json()["data"]]
        assert {"core", "examples"} <= set(refs)

        bad = tmp_path / "bad"
        (bad / "actions").mkdir(parents=True)
        (bad / "pack.yaml").write_text("ref: bad\nversion: nope\n")
        (bad / "actions" / "x.yaml").write_text("ref: x\nrunner_type: teleport\n")
        body = problem(await http.post("/api/v1/packs/register", json={"path": str(bad)}), 422)
        fields = [e["field"] for e in body["errors"]]
        assert "pack.yaml:version" in fields and any(f.startswith("actions/x.yaml:") for f in fields), fields
        body = problem(
            await http.post("/api/v1/packs/register", json={"path": str(tmp_path / "missing")}), 422
        )
        assert "pack.yaml" in str(body["detail"])

        created = await http.post("/api/v1/packs", json={"ref": "scratch", "label": "Scratch"})
        assert created.status_code == 201, created.text
        problem(await http.post("/api/v1/packs", json={"ref": "scratch"}), 409)
        problem(await http.post("/api/v1/packs", json={"ref": "Not Valid"}), 422)
        patched = await http.patch(
            "/api/v1/packs/scratch", json={"description": "temporary", "version": "1.2.3"}
        )
        assert patched.json()["description"] == "temporary" and patched.json()["version"] == "1.2.3"
        problem(await http.patch("/api/v1/packs/scratch", json={"version": "x"}), 422)
        assert (await http.delete("/api/v1/packs/scratch")).status_code == 204
        problem(await http.get("/api/v1/packs/scratch"), 404)
        problem(await http.delete("/api/v1/packs/scratch"), 404)


async def test_triggers_and_webhook_secret_encrypted(api: Api) -> None:
    async with api.client("admin") as http, api.client("viewer") as viewer:
        body = {
            "ref": "hooks.push",
            "description": "a push",
            "payload_schema": {"type": "object", "required": ["ref"]},
            "webhook_enabled": True,
            "webhook_secret": "s3cret-value-123",
        }
        created = await http.post("/api/v1/triggers", json=body)
        assert created.status_code == 201, created.text
        trigger = created.json()
        assert trigger["is_adhoc"] and trigger["webhook_secret_set"] and trigger["pack_ref"] == "hooks"
        assert "webhook_secret" not in trigger and "s3cret" not in created.text
        conn = await api.db()
        try:
            row = await TriggerRepository(conn).get_by_ref("hooks.push")
            assert row is not None and row.webhook_secret not in (None, "s3cret-value-123")
            assert (
                SecretBox(api.settings.security.secret_key).decrypt(row.webhook_secret) == "s3cret-value-123"
            )
        finally:
            await conn.close()
        problem(await http.post("/api/v1/triggers", json=body), 409)
        bad_schema = {"ref": "hooks.bad", "payload_schema": {"type": "nonsense"}}
        body422 = problem(await http.post("/api/v1/triggers", json=bad_schema), 422)
        assert str(body422["errors"][0]["field"]).startswith("payload_schema")

        rotated = await http.post("/api/v1/triggers/hooks.push/webhook/secret")
        assert rotated.status_code == 200 and len(rotated.json()["webhook_secret"]) == 64
        cleared = await http.patch(
            "/api/v1/triggers/hooks.push", json={"webhook_secret": None, "enabled": False}
        )
        assert not cleared.json()["webhook_secret_set"] and not cleared.json()["enabled"]

        listed = (await viewer.get("/api/v1/triggers", params={"ref": "hooks.*"})).json()
        assert [t["ref"] for t in listed["data"]] == ["hooks.push"] and listed["next"] is None
        core = (await viewer.get("/api/v1/triggers", params={"pack": "core", "enabled": "true"})).json()
        assert {"core.webhook", "core.intervaltimer"} <= {t["ref"] for t in core["data"]}
        disabled = (await viewer.get("/api/v1/triggers", params={"enabled": "false"})).json()
        assert [t["ref"] for t in disabled["data"]] == ["hooks.push"]
        assert (await viewer.get("/api/v1/triggers/core.webhook")).json()["ref"] == "core.webhook"
        assert (await http.delete("/api/v1/triggers/hooks.push")).status_code == 204


async def test_actions_pagination_and_schema_checks(api: Api) -> None:
    async with api.client("admin") as http:
        for name in ("a", "b", "c"):
            response = await http.post(
                "/api/v1/actions",
                json={
                    "ref": f"paging.{name}",
                    "runner_type": "shell",
                    "entry_point": "run.sh",
                    "parameters_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                },
            )
            assert response.status_code == 201, response.text
        first = (await http.get("/api/v1/actions", params={"ref": "paging.*", "limit": 2})).json()
        assert [a["ref"] for a in first["data"]] == ["paging.c", "paging.b"] and first["next"]
        second = (
            await http.get(
                "/api/v1/actions", params={"ref": "paging.*", "limit": 2, "before_id": first["next"]}
            )
        ).json()
        assert [a["ref"] for a in second["data"]] == ["paging.a"] and second["next"] is None
        body = problem(
            await http.post(
                "/api/v1/actions",
                json={"ref": "paging.bad", "runner_type": "shell", "parameters_schema": {"type": 12}},
            ),
            422,
        )
        assert "parameters_schema" in str(body["errors"][0]["field"])
        problem(
            await http.post("/api/v1/actions", json={"ref": "paging.bad", "runner_type": "teleport"}), 422
        )
        updated = await http.patch("/api/v1/actions/paging.a", json={"timeout_seconds": 30, "enabled": False})
        assert updated.json()["timeout_seconds"] == 30 and not updated.json()["enabled"]
        body = problem(await http.patch("/api/v1/actions/paging.a", json={"label": None}), 422)
        assert "label" in str(body["detail"])
        core_echo = (await http.get("/api/v1/actions/core.echo")).json()
        assert (
            sorted(core_echo["parameters_schema"]["required"]) == ["cmd", "message"]
            and not core_echo["is_adhoc"]
        )


async def test_rules_lifecycle_announced(api: Api, rule_changes: RuleChanges) -> None:
    async with api.client("admin") as admin, api.client("operator") as operator:
        rule = {
            "ref": "ops.echo_alerts",
            "trigger_ref": "core.webhook",
            "criteria": {"trigger.severity": {"type": "equals", "pattern": "critical"}},
            "action_ref": "core.echo",
            "action_params": {"message": "{{ trigger.host }}"},
        }
        body = problem(await admin.post("/api/v1/rules", json={**rule, "trigger_ref": "core.nope"}), 422)
        assert body["errors"][0]["field"] == "trigger_ref"
        body = problem(
            await admin.post(
                "/api/v1/rules", json={**rule, "criteria": {"trigger.x": {"type": "equalz", "pattern": 1}}}
            ),
            422,
        )
        assert str(body["errors"][0]["field"]).startswith("criteria.trigger.x")
        problem(
            await admin.post("/api/v1/rules", json={**rule, "action_params": {"message": "{{ oops"}}), 422
        )

        created = await admin.post("/api/v1/rules", json=rule)
        assert created.status_code == 201, created.text
        assert created.json()["is_adhoc"] and created.json()["label"] == "echo_alerts"
        assert (await rule_changes.wait_for("ops.echo_alerts", "created"))["trigger_ref"] == "core.webhook"

        disabled = await operator.post("/api/v1/rules/ops.echo_alerts/disable")
        assert disabled.status_code == 200 and not disabled.json()["enabled"]
        assert (await rule_changes.wait_for("ops.echo_alerts", "disabled"))["enabled"] is False
        enabled = await operator.post("/api/v1/rules/ops.echo_alerts/enable")
        assert enabled.json()["enabled"]
        await rule_changes.wait_for("ops.echo_alerts", "enabled")
        problem(await operator.patch("/api/v1/rules/ops.echo_alerts", json={"description": "x"}), 403)

        patched = await admin.patch(
            "/api/v1/rules/ops.echo_alerts", json={"condition": "any", "description": "d"}
        )
        assert patched.json()["condition"] == "any" and patched.json()["criteria"] == rule["criteria"]
        await rule_changes.wait_for("ops.echo_alerts", "updated")
        listed = (await operator.get("/api/v1/rules", params={"ref": "ops.*", "enabled": "true"})).json()
        assert [r["ref"] for r in listed["data"]] == ["ops.echo_alerts"]
        assert (await admin.delete("/api/v1/rules/ops.echo_alerts")).status_code == 204
        assert (await rule_changes.wait_for("ops.echo_alerts", "deleted"))["enabled"] is False
        problem(await operator.post("/api/v1/rules/ops.echo_alerts/enable"), 404)


async def test_sensors_and_policies(api: Api) -> None:
    async with api.client("admin") as http:
        sensor = await http.post(
            "/api/v1/sensors", json={"ref": "mon.poller", "trigger_types": ["core.webhook"]}
        )
        assert sensor.status_code == 201 and sensor.json()["is_adhoc"]
        assert (await http.patch("/api/v1/sensors/mon.poller", json={"enabled": False})).json()[
            "enabled"
        ] is False
        assert (await http.get("/api/v1/sensors", params={"pack": "mon"})).json()["data"][0][
            "ref"
        ] == "mon.poller"
        assert (await http.delete("/api/v1/sensors/mon.poller")).status_code == 204

        body = problem(
            await http.post("/api/v1/policies", json={"ref": "mon.limit", "action_ref": "core.nope"}), 422
        )
        assert body["errors"][0]["field"] == "action_ref"
        problem(
            await http.post("/api/v1/policies", json={"ref": "mon.limit", "action_ref": "core.echo"}), 422
        )
        policy = await http.post(
            "/api/v1/policies",
            json={
                "ref": "mon.limit",
                "action_ref": "core.echo",
                "concurrency_limit": 2,
                "concurrency_group_by": ["x"],
            },
        )
        assert policy.status_code == 201, policy.text
        assert policy.json()["action"] is not None and policy.json()["concurrency_method"] == "enqueue"
        updated = await http.patch(
            "/api/v1/policies/mon.limit", json={"rate_limit_max": 5, "rate_limit_window_seconds": 60}
        )
        assert updated.json()["rate_limit_max"] == 5
        assert (await http.get("/api/v1/policies/mon.limit")).json()["concurrency_limit"] == 2
        assert (await http.delete("/api/v1/policies/mon.limit")).status_code == 204


async def test_the_datastore_api_scopes_secrets_ttl_and_pages(api: Api) -> None:
    async with api.client("admin") as admin, api.client("viewer") as viewer:
        created = await admin.put(
            "/api/v1/keys/db.password", json={"value": "hunter2", "secret": True, "description": "db"}
        )
        assert created.status_code == 200, created.text
        assert created.json()["value"] == "********" and created.json()["secret"]
        conn = await api.db()
        try:
            stored = await conn.fetchval("SELECT value FROM key WHERE name = 'db.password'")
            assert "hunter2" not in stored
        finally:
            await conn.close()
        assert (await viewer.get("/api/v1/keys/db.password")).json()["value"] == "********"
        problem(await viewer.get("/api/v1/keys/db.password", params={"decrypt": "true"}), 403)
        revealed = await admin.get("/api/v1/keys/db.password", params={"decrypt": "true"})
        assert revealed.json()["value"] == "hunter2"
        # values are strings or JSON; a viewer writes their own user keys, not system ones
        problem(await viewer.put("/api/v1/keys/limits", json={"value": {"cpu": 2}}), 403)
        assert (await admin.put("/api/v1/keys/db.limits", json={"value": {"cpu": 2}})).json()["value"] == {
            "cpu": 2
        }
        mine = await viewer.put(
            "/api/v1/keys/db.theme", json={"value": "dark", "scope": "user", "secret": True}
        )
        assert mine.status_code == 200 and mine.json()["user"] == "viewer-user", mine.text
        own = await viewer.get("/api/v1/keys/db.theme", params={"scope": "user", "decrypt": "true"})
        assert own.json()["value"] == "dark"
        problem(await viewer.get("/api/v1/keys/db.theme", params={"scope": "user", "user": "someone"}), 403)
        # listing by prefix, a page at a time; a viewer sees system keys and their own
        listed = (await viewer.get("/api/v1/keys", params={"prefix": "db.", "limit": 2})).json()
        assert [k["name"] for k in listed["data"]] == ["db.limits", "db.password"] and listed[
            "next"
        ] == "db.password"
        rest = (await viewer.get("/api/v1/keys", params={"prefix": "db.", "after": listed["next"]})).json()
        assert [k["name"] for k in rest["data"]] == ["db.theme"] and rest["next"] is None
        # a ttl makes the key vanish; an expired key is gone at once
        assert (await admin.put("/api/v1/keys/db.lease", json={"value": "x", "ttl": 3600})).json()[
            "expires_at"
        ]
        conn = await api.db()
        try:
            await conn.execute(
                "UPDATE key SET expires_at = now() - interval '1 second' WHERE name = 'db.lease'"
            )
        finally:
            await conn.close()
        problem(await viewer.get("/api/v1/keys/db.lease"), 404)
        problem(await admin.put("/api/v1/keys/bad name", json={"value": "x"}), 422)
        assert (await admin.delete("/api/v1/keys/db.password")).status_code == 204
        problem(await viewer.get("/api/v1/keys/db.password"), 404)


async def test_trying_a_rule_on_a_payload_stores_nothing(api: Api) -> None:
    async with api.client("admin") as admin, api.client("viewer") as viewer:
        action = {
            "ref": "ops.login",
            "runner_type": "builtin",
            "entry_point": "noop",
            "parameters_schema": {
                "type": "object",
                "properties": {"user": {"type": "string"}, "password": {"type": "string", "secret": True}},
                "required": ["user"],
            },
        }
        assert (await admin.post("/api/v1/actions", json=action)).status_code == 201
        rule = {
            "ref": "ops.login_on_critical",
            "trigger_ref": "core.webhook",
            "criteria": {"trigger.severity": {"type": "equals", "pattern": "critical"}},
            "action_ref": "ops.login",
            "action_params": {"user": "{{ trigger.host }}", "password": "{{ trigger.token }}"},
        }
        assert (await admin.post("/api/v1/rules", json=rule)).status_code == 201
        url = "/api/v1/rules/ops.login_on_critical/test"

        hit = await viewer.post(
            url, json={"payload": {"severity": "critical", "host": "db-1", "token": "s3"}}
        )
        assert hit.status_code == 200, hit.text
        report = hit.json()
        assert report["matched"] and report["reason"] is None and report["parameters_validated"]
        assert report["action_params"] == {"user": "db-1", "password": "********"}
        [criterion] = report["criteria"]
        assert criterion["key"] == "trigger.severity" and criterion["value"] == "critical"
        assert criterion["outcome"] == "matched"

        miss = (await viewer.post(url, json={"payload": {"severity": "minor", "host": "db-1"}})).json()
        assert not miss["matched"] and miss["criteria"][0]["outcome"] == "failed" and miss["reason"]
        assert miss["action_params"] is None

        invalid = (await viewer.post(url, json={"payload": {"severity": "critical"}})).json()
        assert not invalid["matched"] and invalid["criteria_matched"]
        assert invalid["parameters_error"]["kind"] in ("template", "schema")

        problem(await viewer.post("/api/v1/rules/ops.nope/test", json={"payload": {}}), 404)
        problem(await viewer.post(url, json={"payload": [1]}), 422)
        async with api.client(None) as anonymous:
            problem(await anonymous.post(url, json={"payload": {}}), 401)
        assert (await viewer.get("/api/v1/events")).json()["data"] == []
