"""Operations endpoints and authentication/authorization, against a real attune-api process."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import httpx
import jwt

from attune_api.auth import TokenSigner
from attune_shared.models import ApiKey, Identity
from attune_shared.repos import ApiKeyRepository
from attune_shared.secrets import TOKENS_PURPOSE, derive_key

from .harness import Api, problem, ready_port, start_api

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
            "scope": "write",
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


# -- bearer tokens: PyJWT with a key id, one rotation ------------------------------------------------
KEY = ApiKey.model_construct(id=7, role="operator")
IDENTITY = Identity.model_construct(id=3)


def test_a_token_is_a_jwt_naming_its_signing_key_not_the_secret() -> None:
    token, expires = TokenSigner("secret-a", 600).issue(KEY, IDENTITY)
    assert token.startswith("atk_")
    header = jwt.get_unverified_header(token[4:])
    assert header["alg"] == "HS256" and len(header["kid"]) == 16
    assert (
        "secret-a" not in token and header["kid"] not in TokenSigner("secret-b", 600).issue(KEY, IDENTITY)[0]
    )
    claims = TokenSigner("secret-a", 600).verify(token)
    assert claims is not None
    assert (claims["sub"], claims["key"], claims["role"]) == ("3", 7, "operator")
    assert claims["exp"] == int(expires.timestamp()) and claims["exp"] - claims["iat"] == 600


def test_tokens_survive_exactly_one_rotation() -> None:
    old, _ = TokenSigner("secret-a", 600).issue(KEY, IDENTITY)
    rotated = TokenSigner("secret-b", 600, previous="secret-a")
    assert rotated.verify(old) is not None
    new, _ = rotated.issue(KEY, IDENTITY)
    assert TokenSigner("secret-b", 600).verify(new) is not None  # signed with the current key
    twice = TokenSigner("secret-c", 600, previous="secret-b")
    assert twice.verify(old) is None
    assert twice.verify(new) is not None
    assert TokenSigner("secret-a", 600).verify(new) is None


def test_bad_tokens_are_refused() -> None:
    signer = TokenSigner("secret-a", 600)
    good, _ = signer.issue(KEY, IDENTITY)
    kid = jwt.get_unverified_header(good[4:])["kid"]
    key = derive_key("secret-a", TOKENS_PURPOSE)
    now = int(time.time())
    claims = {"sub": "3", "key": 7, "role": "admin", "iat": now, "exp": now + 60}
    forged = {
        "expired": TokenSigner("secret-a", -1).issue(KEY, IDENTITY)[0],
        "no prefix": good[4:],
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "alg none": "atk_" + jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        "other algorithm": "atk_" + jwt.encode(claims, key * 2, algorithm="HS512", headers={"kid": kid}),
        "no kid": "atk_" + jwt.encode(claims, key, algorithm="HS256"),
        "kid not a string": "atk_" + _with_header(good[4:], {"alg": "HS256", "kid": [kid]}),
        "no key claim": "atk_"
        + jwt.encode({**claims, "key": None}, key, algorithm="HS256", headers={"kid": kid}),
        "no exp": "atk_"
        + jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"}, key, algorithm="HS256", headers={"kid": kid}
        ),
        "garbage": "atk_not.a.jwt",
    }
    assert (
        signer.verify("atk_" + jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})) is not None
    )
    assert {name: signer.verify(token) for name, token in forged.items()} == dict.fromkeys(forged)


def _with_header(token: str, header: dict[str, Any]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *token.split(".")[1:]])


async def test_a_rotated_api_accepts_old_tokens_and_reads_old_secrets(api: Api, services: Any) -> None:
    """The module's API signs and encrypts with its key; an API given a new key and the old one as
    previous accepts the token and decrypts the value; rotating again drops the oldest."""
    old = api.settings.security.secret_key.get_secret_value()
    async with api.client("admin") as admin:
        token = (await admin.post("/auth/token")).json()["access_token"]
        stored = await admin.put("/api/v1/keys/rotation.value", json={"value": "v-123", "secret": True})
        assert stored.status_code == 200, stored.text
    rotated = await services(
        "attune-api",
        {
            "ATTUNE__SECURITY__SECRET_KEY": "rotated-1",
            "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY": old,
            "ATTUNE__API__PORT": "0",
        },
    )
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ready_port(rotated)}", timeout=30) as http:
        assert (await http.get("/auth/me", headers=bearer)).json()["via"] == "token"
        read = await http.get("/api/v1/keys/rotation.value", params={"decrypt": "true"}, headers=bearer)
        assert read.status_code == 200 and read.json()["value"] == "v-123", read.text
        new_token = (await http.post("/auth/token", headers={"X-API-Key": api.keys["admin"]})).json()[
            "access_token"
        ]
    again = await services(
        "attune-api",
        {
            "ATTUNE__SECURITY__SECRET_KEY": "rotated-2",
            "ATTUNE__SECURITY__PREVIOUS_SECRET_KEY": "rotated-1",
            "ATTUNE__API__PORT": "0",
        },
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ready_port(again)}", timeout=30) as http:
        problem(await http.get("/auth/me", headers=bearer), 401)
        new_bearer = {"Authorization": f"Bearer {new_token}"}
        assert (await http.get("/auth/me", headers=new_bearer)).status_code == 200
        unreadable = await http.get(
            "/api/v1/keys/rotation.value", params={"decrypt": "true"}, headers=new_bearer
        )
        assert str(problem(unreadable, 409)["type"]).endswith("undecryptable")
