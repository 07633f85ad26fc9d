"""The audit log, API key scopes and expiry, and failed-authentication throttling, against a real
attune-api process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from attune_api.app import create_app
from attune_api.audit import AUDIT, SAFE_METHODS
from attune_shared.apikeys import create_api_key
from attune_shared.settings import Settings

from .harness import Api, problem

#: Five failed authentications from one address within ten minutes lock it out.
API_ENV = {"ATTUNE__API__AUTH_FAILURE_LIMIT": "5", "ATTUNE__API__AUTH_FAILURE_WINDOW": "600"}


async def _records(api: Api, **query: Any) -> list[dict[str, Any]]:
    async with api.client("admin") as admin:
        response = await admin.get("/api/v1/audit", params=query)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


def test_every_mutating_route_declares_its_audit_action() -> None:
    """No operation that can change something escapes the log (webhook deliveries are events)."""
    document = create_app(Settings()).openapi()
    undeclared, declared = [], 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() in SAFE_METHODS or path.startswith("/api/v1/webhooks/"):
                declared += AUDIT in operation
                continue
            if AUDIT in operation:
                declared += 1
            elif not operation.get("x-side-effect-free"):
                undeclared.append((method, path))
    assert undeclared == []
    assert declared >= 40


async def test_a_rule_enabled_and_refused_is_recorded_with_who_where_and_how(api: Api) -> None:
    ref = "core.audit_rule"
    async with (
        api.client("admin") as admin,
        api.client("operator") as operator,
        api.client("viewer") as viewer,
    ):
        created = await admin.post(
            "/api/v1/rules",
            json={
                "ref": ref,
                "trigger_ref": "core.intervaltimer",
                "action_ref": "core.noop",
                "enabled": False,
            },
        )
        assert created.status_code == 201, created.text
        enabled = await operator.post(f"/api/v1/rules/{ref}/enable", headers={"X-Request-ID": "audit-req-1"})
        assert enabled.status_code == 200, enabled.text
        problem(await viewer.post(f"/api/v1/rules/{ref}/disable"), 403)
        me = (await operator.get("/auth/me")).json()

    async with api.client("admin") as admin:  # a body of the wrong types is still recorded, as text
        problem(await admin.post("/api/v1/rules", json={"ref": 12, "trigger_ref": [], "action_ref": 1}), 422)
    [wrong] = await _records(api, action="rule.create", target="12")
    assert wrong["outcome"] == "error" and wrong["status"] == 422
    [create] = await _records(api, action="rule.create", target=ref)
    assert create["actor"] == "admin-user" and create["outcome"] == "success" and create["status"] == 201
    [enable] = await _records(api, action="rule.enable", target=ref)
    assert enable["actor"] == "operator-user"
    assert enable["api_key_id"] == me["api_key_id"] and enable["identity_id"] == me["identity_id"]
    assert enable["outcome"] == "success" and enable["status"] == 200 and enable["source"] == "api"
    assert enable["remote_addr"] == "127.0.0.1" and enable["request_id"] == "audit-req-1"
    assert (
        enable["details"]["method"] == "POST" and enable["details"]["path"] == f"/api/v1/rules/{ref}/enable"
    )
    [refused] = await _records(api, action="rule.disable", target=ref)
    assert refused["actor"] == "viewer-user" and refused["outcome"] == "denied" and refused["status"] == 403


async def test_runs_name_the_action_and_what_they_made_and_errors_are_recorded(api: Api) -> None:
    async with api.client("operator") as operator:
        run = await operator.post("/api/v1/executions", json={"action_ref": "core.noop"})
        assert run.status_code == 201, run.text
        missing = await operator.post("/api/v1/inquiries/987654/respond", json={"response": {"ok": True}})
        assert missing.status_code == 404
    [record] = await _records(api, action="execution.run", target="core.noop", limit=1)
    assert record["details"]["location"] == run.headers["location"]
    [respond] = await _records(api, action="inquiry.respond", target="987654")
    assert respond["outcome"] == "error" and respond["status"] == 404
    assert "response" not in respond["details"]  # answers are not copied into the log


async def test_decrypted_secret_reads_are_recorded_and_plain_reads_are_not(api: Api) -> None:
    async with api.client("admin") as admin:
        put = await admin.put("/api/v1/keys/audit.token", json={"value": "hunter2", "secret": True})
        assert put.status_code == 200, put.text
        assert (await admin.get("/api/v1/keys/audit.token")).json()["value"] == "********"
        assert (await admin.get("/api/v1/keys/audit.token", params={"decrypt": "true"})).json()[
            "value"
        ] == "hunter2"
        listed = await admin.get("/api/v1/keys", params={"prefix": "audit.", "decrypt": "true"})
        assert listed.json()["data"][0]["value"] == "hunter2"
    [written] = await _records(api, action="key.set", target="audit.token")
    assert written["details"]["secret"] is True
    reads = await _records(api, action="key.decrypt")
    assert [r["details"]["decrypted"] for r in reads] == [["system:audit.token"], ["system:audit.token"]]
    assert [r["target"] for r in reads] == [None, "audit.token"]
    assert all("hunter2" not in str(r) for r in await _records(api, limit=1000))


async def test_api_keys_created_and_revoked_are_recorded(api: Api) -> None:
    async with api.client("admin") as admin:
        created = await admin.post(
            "/auth/keys", json={"role": "viewer", "login": "audit-bot", "scope": "read"}
        )
        assert created.status_code == 201, created.text
        key_id = created.json()["id"]
        assert (await admin.delete(f"/auth/keys/{key_id}")).status_code == 204
    [create] = await _records(api, action="apikey.create", target="audit-bot")
    assert create["details"]["scope"] == "read" and create["details"]["role"] == "viewer"
    assert created.json()["key"] not in str(create)
    [revoke] = await _records(api, action="apikey.revoke", target=str(key_id))
    assert revoke["outcome"] == "success"


async def test_pack_install_source_is_recorded_without_credentials(api: Api) -> None:
    async with api.client("admin") as admin:
        response = await admin.post("/api/v1/packs/install", json={"source": "/nonexistent/pack-dir"})
        assert response.status_code >= 400
        secret_url = "https://bot:s3cr3t-token@127.0.0.1:1/packs/x.git"
        await admin.post("/api/v1/packs/install", json={"source": secret_url})
    records = await _records(api, action="pack.install")
    assert [r["target"] for r in records] == ["https://127.0.0.1:1/packs/x.git", "/nonexistent/pack-dir"]
    assert all(r["outcome"] == "error" for r in records)
    assert "s3cr3t" not in str(records)
    async with api.client("admin") as admin:  # handed to git and the file system: no control characters
        for field, path in (("source", "/api/v1/packs/install"), ("path", "/api/v1/packs/register")):
            refused = problem(await admin.post(path, json={field: "/opt/packs/x\u0000y"}), 422)
            assert field in str(refused["detail"]) or field in str(refused.get("errors")), refused
        # found by schemathesis: a null config was a 500, and so was a source naming no user (~x)
        problem(await admin.patch("/api/v1/packs/core", json={"config": None}), 422)
        nobody = problem(await admin.post("/api/v1/packs/install", json={"source": "~h\U0002b485"}), 409)
        assert "~h\U0002b485 names no user of this machine" in nobody["detail"], nobody
    # and the hostile text is still recorded (escaped), not lost
    [register] = await _records(api, action="pack.register")
    assert register["target"] == "/opt/packs/x\\x00y" and register["status"] == 422


async def test_the_log_is_for_admins_filtered_and_paged(api: Api) -> None:
    async with api.client("operator") as operator, api.client("viewer") as viewer:
        for ref in ("core.audit_a", "core.audit_b", "core.audit_c"):
            await operator.post(f"/api/v1/rules/{ref}/enable")  # 404s, recorded as errors
        problem(await operator.get("/api/v1/audit"), 403)
        problem(await viewer.get("/api/v1/audit"), 403)
    errors = await _records(api, action="rule.*", outcome="error", actor="operator-user")
    assert [r["target"] for r in errors][:3] == ["core.audit_c", "core.audit_b", "core.audit_a"]
    async with api.client("admin") as admin:
        first = (
            await admin.get("/api/v1/audit", params={"action": "rule.enable", "outcome": "error", "limit": 1})
        ).json()
        second = (
            await admin.get(
                "/api/v1/audit",
                params={"action": "rule.enable", "outcome": "error", "limit": 1, "before_id": first["next"]},
            )
        ).json()
        assert [r["target"] for r in first["data"] + second["data"]] == ["core.audit_c", "core.audit_b"]
        newest = errors[0]["created"]
        until = (await admin.get("/api/v1/audit", params={"action": "rule.*", "until": newest})).json()[
            "data"
        ]
        assert "core.audit_c" not in [r["target"] for r in until]
        since = (await admin.get("/api/v1/audit", params={"action": "rule.*", "since": newest})).json()[
            "data"
        ]
        assert [r["target"] for r in since] == ["core.audit_c"]
        problem(await admin.get("/api/v1/audit", params={"outcome": "maybe"}), 422)


async def test_read_scope_keys_read_but_every_mutating_call_is_refused(api: Api) -> None:
    async with api.client("admin") as admin:
        created = await admin.post("/auth/keys", json={"role": "admin", "login": "auditor", "scope": "read"})
        assert created.status_code == 201 and created.json()["scope"] == "read"
        key = created.json()["key"]
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": key}, timeout=30) as reader:
        assert (await reader.get("/api/v1/actions")).status_code == 200
        assert (await reader.get("/auth/me")).json()["scope"] == "read"
        for method, path, body in (
            ("POST", "/api/v1/rules/core.audit_rule/disable", None),
            ("POST", "/api/v1/executions", {"action_ref": "core.noop"}),
            ("PUT", "/api/v1/keys/ro.key", {"value": "x"}),
            ("DELETE", "/api/v1/actions/core.noop", None),
            ("POST", "/auth/keys", {"role": "admin", "login": "escalate"}),
        ):
            refused = problem(await reader.request(method, path, json=body), 403)
            assert "scope read" in str(refused["detail"]), refused
        # a dry run changes nothing: allowed
        tried = await reader.post("/api/v1/rules/core.audit_rule/test", json={"payload": {}})
        assert tried.status_code == 200, tried.text
        # its tokens keep the scope
        token = (await reader.post("/auth/token")).json()["access_token"]
    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {token}"}) as bearer:
        assert (await bearer.get("/api/v1/rules")).status_code == 200
        problem(await bearer.post("/api/v1/rules/core.audit_rule/disable"), 403)
    refusals = await _records(api, actor="auditor", outcome="denied")
    assert {r["action"] for r in refusals} >= {"rule.disable", "execution.run", "key.set", "apikey.create"}


async def test_keys_expire(api: Api) -> None:
    async with api.client("admin") as admin:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        body = problem(
            await admin.post("/auth/keys", json={"role": "viewer", "login": "x", "expires_at": past}), 422
        )
        assert "expires_at" in str(body["detail"])
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        created = await admin.post("/auth/keys", json={"role": "viewer", "login": "temp", "expires_at": soon})
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["id"]
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": key}) as temp:
        assert (await temp.get("/api/v1/actions")).status_code == 200
        conn = await api.db()
        try:  # the hour passes
            await conn.execute(
                "UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = $1", key_id
            )
        finally:
            await conn.close()
        problem(await temp.get("/api/v1/actions"), 401)
        # an expired key is no guess: using it again and again does not lock its address out
        stale = {"X-Forwarded-For": "203.0.113.20"}
        for _ in range(7):
            problem(await temp.get("/api/v1/actions", headers=stale), 401)
        admin_from_there = {**stale, "X-API-Key": api.keys["admin"]}
        assert (await temp.get("/api/v1/actions", headers=admin_from_there)).status_code == 200


async def test_failed_authentications_lock_out_the_address_not_others(api: Api) -> None:
    attacker = {"X-Forwarded-For": "203.0.113.7"}  # the harness's uvicorn trusts its local proxy
    async with httpx.AsyncClient(base_url=api.url, headers=attacker, timeout=30) as http:
        for n in range(5):
            problem(await http.get("/api/v1/actions", headers={"X-API-Key": f"atn_guess{n}"}), 401)
        locked = problem(await http.get("/api/v1/actions", headers={"X-API-Key": api.keys["admin"]}), 429)
        assert "203.0.113.7" in str(locked["detail"])
        retry = await http.post("/auth/token", headers={"X-API-Key": api.keys["admin"]})
        problem(retry, 429)
        assert 1 <= int(retry.headers["retry-after"]) <= 600
        enable = await http.post(
            "/api/v1/rules/core.audit_rule/enable", headers={"X-API-Key": api.keys["admin"]}
        )
        problem(enable, 429)
    async with api.client("admin") as other:
        assert (
            await other.get("/api/v1/actions", headers={"X-Forwarded-For": "203.0.113.8"})
        ).status_code == 200
    [record] = await _records(api, action="rule.enable", outcome="denied", actor="unauthenticated")
    assert record["status"] == 429 and record["remote_addr"] == "203.0.113.7"


async def test_cli_created_keys_take_scope_and_expiry(api: Api) -> None:
    conn = await api.db()
    try:
        created = await create_api_key(
            conn,
            role="operator",
            login="cli-made",
            scope="read",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": created.key}) as http:
        problem(await http.post("/api/v1/executions", json={"action_ref": "core.noop"}), 403)
