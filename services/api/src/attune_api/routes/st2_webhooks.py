"""StackStorm's webhooks: ``POST /api/v1/webhooks/<url>`` fires the rules whose trigger is
``core.st2.webhook`` with that ``url`` (leading and trailing ``/`` ignored), and the generic
``st2`` webhook (a body ``{"trigger", "payload"}``) fires any trigger.

The payload is StackStorm's ``{"headers", "headers_lower", "body"}``: a JSON body parsed (empty:
``{}``), a form-encoded or multipart one as ``{key: [values]}``, ``text/plain`` as a string;
credentials and cookies are left out of the headers. Each matching rule gets its own event (the
event's ``rule_ref``), as timers do. The reply is 202 echoing the body.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse

from attune_api.context import request_id
from attune_api.deps import credential_of, resolve
from attune_api.metrics import WEBHOOKS
from attune_api.problems import ProblemError
from attune_shared.bus import Bus
from attune_shared.errors import RetryableError
from attune_shared.repos import RuleRepository
from attune_shared.types import Queryable

WEBHOOK_TRIGGER = "core.st2.webhook"
#: The generic webhook: its body names the trigger.
GENERIC_URL = "st2"
#: Headers never put in a payload (credentials); compared lower-cased.
HIDDEN_HEADERS = frozenset({"st2-api-key", "x-auth-token", "cookie", "x-api-key", "authorization"})
TRACE_TAG_HEADER = "St2-Trace-Tag"


async def deliver(request: Request, db: Queryable, bus: Bus, url: str, body: bytes) -> JSONResponse:
    """Handle a POST to a StackStorm webhook ``url`` (no trigger of this project has that ref)."""
    url = url.strip("/")
    rules = [] if url == GENERIC_URL else await RuleRepository(db).webhook_rules(WEBHOOK_TRIGGER, url)
    if url != GENERIC_URL and not rules:
        raise _refuse(
            404,
            "not_found",
            f"Webhook {url} not registered: no enabled rule uses {WEBHOOK_TRIGGER} with this url",
        )
    await _authorize(request)
    parsed = _body(request.headers.get("content-type", ""), body)
    trace_tag = request.headers.get(TRACE_TAG_HEADER) or request_id.get()
    if url == GENERIC_URL:
        if not isinstance(parsed, dict):
            raise _refuse(400, "invalid", f"Webhook body needs to be an object, got: {type(parsed).__name__}")
        trigger = parsed.get("trigger")
        if not isinstance(trigger, str) or not trigger:
            raise _refuse(400, "invalid", "Trigger not specified.")
        payload = parsed.get("payload") or {}
        await _publish(bus, trigger, payload, trace_tag, None)
    else:
        rules = await RuleRepository(db).webhook_rules(WEBHOOK_TRIGGER, url)
        if not rules:
            raise _refuse(
                404,
                "not_found",
                f"Webhook {url} not registered: no enabled rule uses {WEBHOOK_TRIGGER} with this url",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HIDDEN_HEADERS}
        headers = {_original_case(request, k): v for k, v in headers.items()}
        payload = {
            "headers": headers,
            "headers_lower": {k.lower(): v for k, v in headers.items()},
            "body": parsed,
        }
        for rule in rules:
            await _publish(bus, WEBHOOK_TRIGGER, payload, trace_tag, rule.ref)
    WEBHOOKS.labels("accepted").inc()
    return JSONResponse(status_code=202, content=parsed)


async def _authorize(request: Request) -> None:
    query = request.query_params
    credential = (
        request.headers.get("x-api-key")
        or request.headers.get("st2-api-key")
        or credential_of(request, None, None)
        or _bearer(request)
        or query.get("api_key")
        or query.get("st2-api-key")
    )
    try:
        principal = await resolve(request, credential)
    except ProblemError:
        WEBHOOKS.labels("unauthorized").inc()
        raise
    if not principal.allows("operator"):
        raise _refuse(
            403, "unauthorized", f"role {principal.role} may not deliver webhooks: it needs operator"
        )


def _bearer(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else None


def _body(content_type: str, body: bytes) -> Any:
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise _refuse(400, "invalid", "the body is not UTF-8 text") from None
    if kind in ("", "application/json"):
        try:
            return json.loads(text) if text.strip() else {}
        except ValueError:
            raise _refuse(400, "invalid", "the body is not JSON") from None
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return parse_qs(text, keep_blank_values=True)
    if kind == "text/plain":
        return text
    raise _refuse(400, "invalid", f"Unsupported Content-Type: {kind}")


def _original_case(request: Request, lowered: str) -> str:
    """Starlette lower-cases header names; StackStorm shows them as sent."""
    for raw, _ in request.headers.raw:
        if raw.decode("latin-1").lower() == lowered:
            return raw.decode("latin-1")
    return lowered


async def _publish(bus: Bus, trigger: str, payload: Any, trace_tag: str | None, rule_ref: str | None) -> None:
    if not isinstance(payload, dict):
        raise _refuse(400, "invalid", f"the payload must be an object, not {type(payload).__name__}")
    try:
        await bus.trigger(
            trigger,
            payload,
            msg_id=f"webhook:{uuid.uuid4().hex}",
            trace_tag=trace_tag,
            rule_ref=rule_ref,
            source="webhook",
        )
    except RetryableError as exc:
        raise _refuse(
            503,
            "unavailable",
            f"cannot hand the webhook to NATS, try again: {exc}",
            headers={"Retry-After": "1"},
        ) from None


def _refuse(status: int, outcome: str, detail: str, **kwargs: Any) -> ProblemError:
    WEBHOOKS.labels(outcome).inc()
    return ProblemError(status, detail, **kwargs)
