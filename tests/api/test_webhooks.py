"""Webhooks: HMAC signatures, API keys, limits, and a delivery becoming an event and an execution."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import pytest_asyncio

from .harness import Api, problem

API_ENV = {"ATTUNE__API__MAX_BODY_BYTES": "2048"}
SECRET = "topsecret-0123456789"
T = TypeVar("T")


def sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something, within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = await probe()
            if result:
                return result
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="module")
async def hooks(api: Api) -> None:
    async with api.client("admin") as http:
        signed = {
            "ref": "hooks.push",
            "payload_schema": {
                "type": "object",
                "properties": {"ref": {"type": "string"}, "commits": {"type": "integer"}},
                "required": ["ref"],
            },
            "webhook_enabled": True,
            "webhook_secret": SECRET,
        }
        for body in (
            signed,
            {"ref": "hooks.open", "webhook_enabled": True},
            {"ref": "hooks.closed", "webhook_enabled": False},
            {"ref": "hooks.off", "webhook_enabled": True, "enabled": False, "webhook_secret": SECRET},
        ):
            response = await http.post("/api/v1/triggers", json=body)
            assert response.status_code == 201, response.text


async def _stored(api: Api, seq: int) -> tuple[dict[str, Any], dict[str, str]]:
    nc = await nats.connect(api.settings.nats.url)
    try:
        stream = f"{api.settings.nats.prefix.upper()}_TRIGGERS"
        msg = await nc.jsm().get_msg(stream, seq)
        assert msg.subject == f"{api.settings.nats.prefix}.trigger.hooks.push"
        return json.loads(msg.data or b""), dict(msg.headers or {})
    finally:
        await nc.close()


async def test_signed_webhook_is_published(api: Api, hooks: None) -> None:
    body = json.dumps({"ref": "refs/heads/main", "commits": 3}).encode()
    async with api.client(None) as http:
        response = await http.post("/api/v1/webhooks/hooks.push", content=body, headers=sign(body))
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["trigger_ref"] == "hooks.push" and not accepted["duplicate"]
        assert accepted["message_id"].startswith("webhook:")
        payload, headers = await _stored(api, accepted["stream_seq"])
        assert payload == {"ref": "refs/heads/main", "commits": 3}
        assert headers["Nats-Msg-Id"] == accepted["message_id"]
        assert headers["Attune-Source"] == "webhook"
        assert headers["Attune-Trace-Tag"] == response.headers["x-request-id"]

        # the same delivery twice (Idempotency-Key, or GitHub's delivery id) is one message
        first = await http.post(
            "/api/v1/webhooks/hooks.push",
            content=body,
            headers={**sign(body), "Idempotency-Key": "delivery-1"},
        )
        again = await http.post(
            "/api/v1/webhooks/hooks.push",
            content=body,
            headers={**sign(body), "X-GitHub-Delivery": "delivery-1"},
        )
        assert first.json()["message_id"] == again.json()["message_id"] == "webhook:hooks.push:delivery-1"
        assert again.json()["duplicate"] and again.json()["stream_seq"] == first.json()["stream_seq"]


async def test_signature_failures(api: Api, hooks: None) -> None:
    body = json.dumps({"ref": "x"}).encode()
    async with api.client(None) as http:
        wrong = await http.post(
            "/api/v1/webhooks/hooks.push", content=body, headers=sign(body, "another-secret")
        )
        assert "wrong X-Hub-Signature-256" in str(problem(wrong, 401)["detail"])
        tampered = await http.post("/api/v1/webhooks/hooks.push", content=body + b" ", headers=sign(body))
        problem(tampered, 401)
        missing = await http.post("/api/v1/webhooks/hooks.push", content=body)
        assert "missing X-Hub-Signature-256" in str(problem(missing, 401)["detail"])
        # an API key does not replace the signature of a trigger that has a secret
        keyed = await http.post(
            "/api/v1/webhooks/hooks.push", content=body, headers={"X-API-Key": api.keys["admin"]}
        )
        problem(keyed, 401)


async def test_api_key_webhooks_for_triggers_without_secret(api: Api, hooks: None) -> None:
    body = json.dumps({"anything": True}).encode()
    async with api.client(None) as http:
        problem(await http.post("/api/v1/webhooks/hooks.open", content=body), 401)
        viewer = await http.post(
            "/api/v1/webhooks/hooks.open", content=body, headers={"X-API-Key": api.keys["viewer"]}
        )
        problem(viewer, 403)
        operator = await http.post(
            "/api/v1/webhooks/hooks.open", content=body, headers={"X-API-Key": api.keys["operator"]}
        )
        assert operator.status_code == 202, operator.text
        query = await http.post(
            "/api/v1/webhooks/hooks.open", params={"api_key": api.keys["operator"]}, content=body
        )
        assert query.status_code == 202, query.text
        problem(
            await http.post("/api/v1/webhooks/hooks.open", params={"api_key": "atn_wrong"}, content=body), 401
        )


async def test_refusals(api: Api, hooks: None) -> None:
    async with api.client(None) as http:
        body = json.dumps({"ref": "x"}).encode()
        problem(await http.post("/api/v1/webhooks/hooks.unknown", content=body, headers=sign(body)), 404)
        problem(await http.post("/api/v1/webhooks/hooks.closed", content=body, headers=sign(body)), 404)
        disabled = problem(
            await http.post("/api/v1/webhooks/hooks.off", content=body, headers=sign(body)), 409
        )
        assert "disabled" in str(disabled["detail"])
        big = json.dumps({"ref": "x" * 4096}).encode()
        problem(await http.post("/api/v1/webhooks/hooks.push", content=big, headers=sign(big)), 413)

        async def chunks():
            for _ in range(8):
                yield b" " * 512

        problem(await http.post("/api/v1/webhooks/hooks.push", content=chunks(), headers=sign(b"")), 413)
        for bad in (b"{not json", b"[1, 2]", b'"text"'):
            problem(await http.post("/api/v1/webhooks/hooks.push", content=bad, headers=sign(bad)), 422)
        invalid = json.dumps({"ref": "x", "commits": "three"}).encode()
        body422 = problem(
            await http.post("/api/v1/webhooks/hooks.push", content=invalid, headers=sign(invalid)), 422
        )
        assert body422["errors"][0]["field"] == "body.commits"
        missing = json.dumps({"commits": 1}).encode()
        problem(await http.post("/api/v1/webhooks/hooks.push", content=missing, headers=sign(missing)), 422)


async def test_webhook_becomes_event_and_execution(api: Api, hooks: None, services: Any) -> None:
    """Acceptance: a wrong signature is refused; a good one becomes an event and, with a rule, an
    execution (real attune-sensor and attune-executor processes)."""
    async with api.client("admin") as admin:
        rule = {
            "ref": "hooks.on_push",
            "trigger_ref": "hooks.push",
            "criteria": {"trigger.ref": {"type": "equals", "pattern": "refs/heads/release"}},
            "action_ref": "core.echo",
            "action_params": {"message": "pushed {{ trigger.commits }} to {{ trigger.ref }}"},
        }
        assert (await admin.post("/api/v1/rules", json=rule)).status_code == 201
    await services("attune-sensor")
    await services("attune-executor")
    body = json.dumps({"ref": "refs/heads/release", "commits": 2}).encode()
    async with api.client(None) as http, api.client("viewer") as viewer:
        problem(
            await http.post("/api/v1/webhooks/hooks.push", content=body, headers=sign(body, "nope-nope")), 401
        )
        accepted = await http.post("/api/v1/webhooks/hooks.push", content=body, headers=sign(body))
        assert accepted.status_code == 202, accepted.text
        dedup_id = accepted.json()["message_id"]

        async def event() -> dict[str, Any] | None:
            events = (await viewer.get("/api/v1/events", params={"trigger_ref": "hooks.push"})).json()["data"]
            return next((e for e in events if e["dedup_id"] == dedup_id), None)

        stored = await eventually(event)
        assert stored["payload"] == {"ref": "refs/heads/release", "commits": 2}
        assert stored["source_ref"] == "webhook"

        async def execution() -> dict[str, Any] | None:
            found = (await viewer.get("/api/v1/executions", params={"rule_ref": "hooks.on_push"})).json()[
                "data"
            ]
            return found[0] if found and found[0]["status"] == "completed" else None

        done = await eventually(execution, timeout=60)
        assert done["config"]["message"] == "pushed 2 to refs/heads/release"
        detail = (await viewer.get(f"/api/v1/executions/{done['id']}")).json()
        assert (
            detail["links"]["rule"]["ref"] == "hooks.on_push"
            and detail["links"]["trigger"]["ref"] == "hooks.push"
        )
        assert detail["links"]["enforcement"]["event"] == stored["id"]
        # only the wrongly signed delivery never reached the bus: one event for this delivery
        events = (await viewer.get("/api/v1/events", params={"trigger_ref": "hooks.push"})).json()["data"]
        assert sum(1 for e in events if e["payload"] == {"ref": "refs/heads/release", "commits": 2}) == 1
