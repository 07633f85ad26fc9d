"""Hostile webhook deliveries against a real API process: an address outside the allow-list, a
flood over the rate limit, a slow body, malformed JSON and form bodies, replays; and the signature
compared in constant time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from urllib.parse import urlparse

import pytest
import pytest_asyncio

from attune_api.routes import webhooks

from ..api.harness import Api, problem

BODY_TIMEOUT_S = 1
API_ENV = {"ATTUNE__API__WEBHOOK_BODY_TIMEOUT": str(BODY_TIMEOUT_S)}
SECRET = "hostile-secret-0123456789"


def sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest_asyncio.fixture(scope="module")
async def hooks(api: Api) -> None:
    async with api.client("admin") as http:
        for body in (
            {"ref": "hostile.open", "webhook_enabled": True, "webhook_secret": SECRET},
            {
                "ref": "hostile.far",
                "webhook_enabled": True,
                "webhook_secret": SECRET,
                "webhook_allowed_ips": ["10.0.0.0/8"],
            },
            {
                "ref": "hostile.near",
                "webhook_enabled": True,
                "webhook_secret": SECRET,
                "webhook_allowed_ips": ["10.0.0.0/8", "127.0.0.1"],
            },
            {
                "ref": "hostile.limited",
                "webhook_enabled": True,
                "webhook_secret": SECRET,
                "webhook_rate_limit": 3,
                "webhook_rate_window": 3600,
            },
        ):
            response = await http.post("/api/v1/triggers", json=body)
            assert response.status_code == 201, response.text


async def test_allow_list_is_validated_and_shown(api: Api, hooks: None) -> None:
    async with api.client("admin") as http:
        bad = await http.patch(
            "/api/v1/triggers/hostile.open", json={"webhook_allowed_ips": ["10.0.0.0/8", "nowhere"]}
        )
        assert "'nowhere' is not an IP address or CIDR network" in json.dumps(problem(bad, 422))
        shown = (await http.get("/api/v1/triggers/hostile.near")).json()
        assert shown["webhook_allowed_ips"] == ["10.0.0.0/8", "127.0.0.1/32"]


async def test_deliveries_from_outside_the_allow_list_are_refused(api: Api, hooks: None) -> None:
    body = b'{"a": 1}'
    async with api.client(None) as http:
        far = await http.post("/api/v1/webhooks/hostile.far", content=body, headers=sign(body))
        assert "not accepted from 127.0.0.1" in str(problem(far, 403)["detail"])
        near = await http.post("/api/v1/webhooks/hostile.near", content=body, headers=sign(body))
        assert near.status_code == 202, near.text


async def test_a_flood_is_cut_at_the_rate_limit_signed_or_not(api: Api, hooks: None) -> None:
    body = b'{"a": 1}'
    async with api.client(None) as http:
        statuses = [
            (
                await http.post("/api/v1/webhooks/hostile.limited", content=body, headers=sign(body))
            ).status_code
            for _ in range(2)
        ]
        guess = await http.post(
            "/api/v1/webhooks/hostile.limited", content=body, headers=sign(body, "guess-0000")
        )
        statuses.append(guess.status_code)
        over = await http.post("/api/v1/webhooks/hostile.limited", content=body, headers=sign(body))
        assert statuses == [202, 202, 401]  # a wrong signature counts too
        assert "accepts 3 webhooks per 3600 s" in str(problem(over, 429)["detail"])
        assert over.headers["retry-after"] == "3600"
        # other triggers are not limited by it
        other = await http.post("/api/v1/webhooks/hostile.open", content=body, headers=sign(body))
        assert other.status_code == 202, other.text


async def test_a_slow_body_is_cut_off(api: Api, hooks: None) -> None:
    """A sender announcing a body and never finishing it gets 408 after the body timeout."""
    url = urlparse(api.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            b"POST /api/v1/webhooks/hostile.open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"a": '
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=BODY_TIMEOUT_S + 30)
        assert status.startswith(b"HTTP/1.1 408"), status
    finally:
        writer.close()


MALFORMED_JSON = {
    "syntax": (b"{not json", "not JSON"),
    "NaN": (b'{"a": NaN}', "NaN is not JSON"),
    "Infinity": (b'{"a": -Infinity}', "-Infinity is not JSON"),
    "deep": (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    "not UTF-8": (b'{"a": "\xff\xfe"}', "not JSON"),
    "lone surrogate": (b'{"a": "\\ud800"}', None),
}


@pytest.mark.parametrize(("body", "reason"), MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
async def test_malformed_json_is_a_clear_refusal(
    api: Api, hooks: None, body: bytes, reason: str | None
) -> None:
    async with api.client(None) as http:
        response = await http.post("/api/v1/webhooks/hostile.open", content=body, headers=sign(body))
    if reason is None:  # valid JSON whose string PostgreSQL may not store: accepted or refused, never a 500
        assert response.status_code in (202, 422), response.text
        return
    assert reason in str(problem(response, 422)["detail"]), response.text


async def test_malformed_stackstorm_bodies_are_a_clear_refusal(api: Api, hooks: None) -> None:
    operator = {"X-API-Key": api.keys["operator"]}
    async with api.client(None) as http:
        deep = b"[" * 100_000 + b"]" * 100_000
        response = await http.post("/api/v1/webhooks/st2", content=deep, headers=operator)
        assert "nested too deeply" in str(problem(response, 400)["detail"])
        nan = await http.post("/api/v1/webhooks/st2", content=b'{"trigger": NaN}', headers=operator)
        assert "NaN is not JSON" in str(problem(nan, 400)["detail"])
        form = "&".join(f"f{i}=1" for i in range(2000)).encode()
        flood = await http.post(
            "/api/v1/webhooks/st2",
            content=form,
            headers={**operator, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert "more than 1000 fields" in str(problem(flood, 400)["detail"])
        binary = await http.post("/api/v1/webhooks/st2", content=b"\xff\xfe", headers=operator)
        assert "not UTF-8" in str(problem(binary, 400)["detail"])


async def test_a_replayed_delivery_is_one_event(api: Api, hooks: None) -> None:
    body = b'{"deploy": "v1"}'
    async with api.client(None) as http:
        replies = [
            (
                await http.post(
                    "/api/v1/webhooks/hostile.open",
                    content=body,
                    headers={**sign(body), "Idempotency-Key": "once"},
                )
            ).json()
            for _ in range(3)
        ]
        assert [r["duplicate"] for r in replies] == [False, True, True]
        assert len({r["stream_seq"] for r in replies}) == 1


async def test_a_non_ascii_signature_is_refused_not_crashed(api: Api, hooks: None) -> None:
    body = b'{"a": 1}'
    async with api.client(None) as http:
        response = await http.post(
            "/api/v1/webhooks/hostile.open",
            content=body,
            headers={"X-Hub-Signature-256": "sha256=é".encode("latin-1")},
        )
        problem(response, 401)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing is never asserted (docs/security.md); the compare is: hmac.compare_digest decides."""
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    body = b'{"a": 1}'
    good = sign(body)["X-Hub-Signature-256"]
    assert webhooks.signature_matches(good, SECRET, body)
    assert not webhooks.signature_matches(good[:-1] + "0", SECRET, body)
    assert not webhooks.signature_matches("sha256=é", SECRET, body)
    assert len(calls) == 3
