"""Web console sessions: a key or token buys an HttpOnly, SameSite=Strict cookie that
authenticates like a token; state-changing requests by cookie need the CSRF header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from .harness import Api, problem

CSRF = {"X-Attune-CSRF": "1"}


@asynccontextmanager
async def _signed_in(api: Api, credential: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client(None) as http:
        response = await http.post("/auth/session", json={"credential": credential}, headers=CSRF)
        assert response.status_code == 200, response.text
        yield http


async def test_a_key_buys_an_http_only_strict_cookie_that_authenticates(api: Api) -> None:
    async with api.client(None) as http:
        response = await http.post("/auth/session", json={"credential": api.keys["operator"]}, headers=CSRF)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["login"] == "operator-user" and body["role"] == "operator"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("attune_session=atk_")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain http on 127.0.0.1
        assert api.keys["operator"] not in cookie
        me = (await http.get("/auth/me")).json()
        assert me["login"] == "operator-user" and me["via"] == "token"
        assert (await http.get("/api/v1/executions")).status_code == 200


async def test_a_token_signs_in_too_and_bad_credentials_do_not(api: Api) -> None:
    async with api.client("viewer") as http:
        token = (await http.post("/auth/token")).json()["access_token"]
    async with _signed_in(api, token) as http:
        assert (await http.get("/auth/me")).json()["role"] == "viewer"
    async with api.client(None) as http:
        for credential in ("atn_" + "x" * 43, token[:-2] + "xx", "nonsense"):
            response = await http.post("/auth/session", json={"credential": credential}, headers=CSRF)
            problem(response, 401)
            assert "set-cookie" not in response.headers
        problem(await http.post("/auth/session", json={}, headers=CSRF), 422)


async def test_changing_state_by_cookie_needs_the_csrf_header(api: Api) -> None:
    async with _signed_in(api, api.keys["operator"]) as http:
        body = {"action_ref": "core.noop"}
        forged = problem(await http.post("/api/v1/executions", json=body), 403)
        assert "X-Attune-CSRF" in str(forged["detail"])
        assert (await http.post("/api/v1/executions", json=body, headers=CSRF)).status_code == 201
        # signing in itself needs it too: a cross-site form cannot plant a session
        problem(await http.post("/auth/session", json={"credential": api.keys["admin"]}), 403)
    # a header credential is not a cookie: no CSRF header needed
    async with api.client("operator") as http:
        assert (await http.post("/api/v1/executions", json={"action_ref": "core.noop"})).status_code == 201


async def test_the_role_behind_the_cookie_is_enforced(api: Api) -> None:
    async with _signed_in(api, api.keys["viewer"]) as http:
        refused = problem(await http.post("/api/v1/executions/1/cancel", headers=CSRF), 403)
        assert "operator" in str(refused["detail"])


async def test_the_session_is_asked_without_a_401(api: Api) -> None:
    async with api.client(None) as http:
        nobody = await http.get("/auth/session")
        assert nobody.status_code == 200 and nobody.json() is None
        assert (await http.get("/auth/session", headers={"X-API-Key": "atn_" + "x" * 43})).json() is None
    async with _signed_in(api, api.keys["admin"]) as http:
        assert (await http.get("/auth/session")).json()["role"] == "admin"


async def test_signing_out_clears_the_cookie(api: Api) -> None:
    async with _signed_in(api, api.keys["viewer"]) as http:
        response = await http.delete("/auth/session")  # another origin cannot: DELETE needs a preflight
        assert response.status_code == 204
        cleared = response.headers["set-cookie"]
        assert cleared.startswith('attune_session=""') and "max-age=0" in cleared.lower()
        problem(await http.get("/auth/me"), 401)
        assert (await http.get("/auth/session")).json() is None


async def test_a_revoked_key_ends_its_sessions(api: Api) -> None:
    async with api.client("admin") as http:
        created = (await http.post("/auth/keys", json={"role": "viewer", "login": "short-lived"})).json()
    async with _signed_in(api, created["key"]) as session:
        assert (await session.get("/auth/me")).status_code == 200
        async with api.client("admin") as http:
            assert (await http.delete(f"/auth/keys/{created['id']}")).status_code == 204
        problem(await session.get("/auth/me"), 401)
