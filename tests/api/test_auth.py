"""Operations endpoints and authentication/authorization, against a real attune-api process."""

from __future__ import annotations

import re

import httpx

from attune_shared.repos import ApiKeyRepository

from .harness import Api, problem, start_api

#: (method, path) of every operation but the public ones, with placeholder ids/refs.
PUBLIC = {
    "/health",
    "/health/ready",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/docs/oauth2-redirect",
    "/auth/session",  # signing in and out: see test_session
}


def _operations(document: dict) -> list[tuple[str, str]]:
    found = []
    for path, item in document["paths"].items():
        if path in PUBLIC or path.startswith("/api/v1/webhooks/"):  # webhooks: HMAC, see test_webhooks
            continue
        concrete = re.sub(r"\{(id)\}", "1", path)
        concrete = re.sub(r"\{[^}]+\}", "core.echo", concrete)
        for method in item:
            found.append((method.upper(), concrete))
    return found


async def test_health_is_public_and_ready_checks_dependencies(api: Api) -> None:
    async with api.client(None) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}
        assert ready.headers["x-request-id"]
        echoed = await http.get("/health", headers={"X-Request-ID": "req-abc.123"})
        assert echoed.headers["x-request-id"] == "req-abc.123"
        assert (await http.get("/docs")).status_code == 401
    async with api.client("viewer") as http:
        docs = await http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_every_endpoint_but_health_requires_auth(api: Api) -> None:
    async with api.client("viewer") as http:
        document = (await http.get("/openapi.json")).json()
    async with api.client(None) as http:
        operations = _operations(document)
        assert len(operations) > 50
        for method, path in operations:
            response = await http.request(method, path, json={})
            body = problem(response, 401)
            assert "authentication required" in str(body["detail"]) or "API key" in str(body["detail"]), (
                method,
                path,
                body,
            )
            assert response.headers["www-authenticate"].startswith("Bearer")
        metrics = await http.get("/metrics")
        problem(metrics, 401)
        for path in ("/openapi.json", "/docs", "/redoc"):
            problem(await http.get(path), 401)


async def test_wrong_key_and_token_are_refused(api: Api) -> None:
    async with api.client(None) as http:
        for headers in (
            {"X-API-Key": "atn_not-a-real-key"},
            {"Authorization": "Bearer atn_nope"},
            {"Authorization": "Bearer atk_eyJ2IjoxfQ.c2ln"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ):
            response = await http.get("/api/v1/actions", headers=headers)
            problem(response, 401)


async def test_roles(api: Api) -> None:
    async with (
        api.client("viewer") as viewer,
        api.client("operator") as operator,
        api.client("admin") as admin,
    ):
        assert (await viewer.get("/api/v1/actions")).status_code == 200
        assert (await viewer.get("/auth/me")).json()["role"] == "viewer"
        # viewer may not run, cancel, enable
        body = problem(await viewer.post("/api/v1/executions", json={"action_ref": "core.noop"}), 403)
        assert "operator" in str(body["detail"])
        problem(await viewer.post("/api/v1/executions/1/cancel"), 403)
        problem(await viewer.post("/api/v1/rules/core.x/enable"), 403)
        # operator may run and cancel, not change the catalog
        created = await operator.post("/api/v1/executions", json={"action_ref": "core.noop"})
        assert created.status_code == 201, created.text
        execution_id = created.json()["id"]
        assert created.headers["location"] == f"/api/v1/executions/{execution_id}"
        cancelled = await operator.post(f"/api/v1/executions/{execution_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["outcome"] == "cancelled"
        assert cancelled.json()["execution"]["status"] == "cancelled"
        action = {"ref": "adhoc.thing", "runner_type": "builtin", "entry_point": "noop"}
        body = problem(await operator.post("/api/v1/actions", json=action), 403)
        assert "admin" in str(body["detail"])
        problem(await operator.delete("/api/v1/actions/core.noop"), 403)
        problem(await operator.get("/auth/keys"), 403)
        problem(await operator.get("/api/v1/keys", params={"decrypt": "true", "scope": "system"}), 403)
        # admin may change the catalog
        assert (await admin.post("/api/v1/actions", json=action)).status_code == 201
        assert (await admin.delete("/api/v1/actions/adhoc.thing")).status_code == 204


async def test_token_exchange_and_revocation(api: Api) -> None:
    async with api.client("admin") as admin, api.client(None) as anonymous:
        created = await admin.post("/auth/keys", json={"role": "operator", "login": "ci-bot", "name": "ci"})
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert key.startswith("atn_") and created.json()["prefix"] == key[:12]
        listed = (await admin.get("/auth/keys")).json()
        assert any(k["id"] == created.json()["id"] and k["login"] == "ci-bot" for k in listed)
        assert all("key" not in k and "key_hash" not in k for k in listed)

        problem(await anonymous.post("/auth/token"), 401)
        token = await anonymous.post("/auth/token", headers={"X-API-Key": key})
        assert token.status_code == 200, token.text
        assert token.json()["role"] == "operator" and token.json()["token_type"] == "bearer"
        access = token.json()["access_token"]
        bearer = {"Authorization": f"Bearer {access}"}
        me = (await anonymous.get("/auth/me", headers=bearer)).json()
        assert me == {
            "login": "ci-bot",
            "role": "operator",
            "identity_id": me["identity_id"],
            "api_key_id": created.json()["id"],
            "via": "token",
        }
        tampered = access[:-2] + ("AA" if not access.endswith("AA") else "BB")
        problem(await anonymous.get("/auth/me", headers={"Authorization": f"Bearer {tampered}"}), 401)
        # the key itself works as a bearer credential too
        assert (
            await anonymous.get("/auth/me", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 200

        assert (await admin.delete(f"/auth/keys/{created.json()['id']}")).status_code == 204
        problem(await admin.delete(f"/auth/keys/{created.json()['id']}"), 404)
        problem(await anonymous.get("/auth/me", headers=bearer), 401)
        problem(await anonymous.get("/auth/me", headers={"X-API-Key": key}), 401)
    conn = await api.db()
    try:
        row = (await ApiKeyRepository(conn).get_many([created.json()["id"]]))[created.json()["id"]]
        assert row.revoked_at is not None and row.key_hash != key and key not in row.key_hash
    finally:
        await conn.close()


async def test_metrics(api: Api) -> None:
    async with api.client("viewer") as http:
        await http.get("/api/v1/actions")
        response = await http.get("/metrics")
        assert response.status_code == 200
        text = response.text
        assert 'attune_api_requests_total{method="GET",route="/api/v1/actions",status="200"}' in text
        assert "attune_api_request_seconds_bucket" in text
        assert 'attune_executions_active{status="requested"}' in text
        assert "attune_consumer_pending{" in text


async def test_problem_shapes(api: Api) -> None:
    async with api.client("admin") as http:
        body = problem(await http.get("/api/v1/nothing-here"), 404)
        assert body["type"] == "urn:attune:problem:not-found"
        body = problem(await http.get("/api/v1/actions/core.missing"), 404)
        assert body["detail"] == "action core.missing does not exist"
        body = problem(await http.get("/api/v1/executions/not-a-number"), 422)
        assert body["errors"] and body["errors"][0]["field"] == "path.id"
        body = problem(await http.get("/api/v1/actions", params={"limit": 5000}), 422)
        assert "query.limit" in str(body["detail"])
        body = problem(await http.delete("/health"), 405)
        response = await http.post(
            "/api/v1/actions", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        problem(response, 422)


async def test_auth_disabled_is_loud_and_open(api: Api, tmp_path) -> None:
    env = {**api.env, "ATTUNE__API__AUTH_ENABLED": "false"}
    proc, url = await start_api(env, tmp_path / "api-open.log")
    try:
        assert "AUTHENTICATION IS OFF" in proc.output()
        async with httpx.AsyncClient(base_url=url) as http:
            me = (await http.get("/auth/me")).json()
            assert me["role"] == "admin" and me["via"] == "anonymous"
            assert (await http.get("/api/v1/actions")).status_code == 200
        assert await proc.terminate() == 0
    finally:
        await proc.kill()
