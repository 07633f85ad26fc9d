"""Webhooks: ``POST /webhooks/{trigger_ref}`` publishes the JSON body to ``<p>.trigger.<trigger_ref>``.

Authentication, per trigger:

- a trigger **with a webhook secret** accepts a request whose ``X-Hub-Signature-256`` header is
  ``sha256=<hex HMAC-SHA256 of the raw body under the secret>`` (GitHub's scheme); no API key is
  needed, and a missing or wrong signature is a 401 even with one;
- a trigger **without a secret** needs an API key or token with the ``operator`` role, as a header
  (``X-API-Key`` / ``Authorization: Bearer``) or, for senders that can only configure a URL, the
  ``api_key`` query parameter (StackStorm's ``?st2-api-key=`` habit).

The trigger must exist with ``webhook_enabled`` (404 otherwise) and be enabled (409). Before the
body is read, the client's address must be in the trigger's ``webhook_allowed_ips`` when it has
one (403), and the delivery must fit its ``webhook_rate_limit`` per ``webhook_rate_window`` seconds
(429 with ``Retry-After``; every attempt counts, signed or not, so the limit also slows guessing).
The body must arrive within ``api.webhook_body_timeout`` seconds (408), be at most
``api.max_body_bytes`` (413) and be a JSON object (no NaN, nesting Python can parse) valid
against the trigger's ``payload_schema`` (422). The reply is 202 with the message id: the
``Idempotency-Key`` (or ``X-GitHub-Delivery``) header makes retries of one delivery a single event
(JetStream dedup, within the stream's duplicate window).

StackStorm's webhooks: ``POST /api/v1/webhooks/<url>`` fires the rules whose trigger is
``core.st2.webhook`` with that ``url`` (leading and trailing ``/`` ignored), and the generic
``st2`` webhook (a body ``{"trigger", "payload"}``) fires any trigger.

The payload is StackStorm's ``{"headers", "headers_lower", "body"}``: a JSON body parsed (empty:
``{}``), a form-encoded or multipart one as ``{key: [values]}``, ``text/plain`` as a string;
credentials and cookies are left out of the headers. Each matching rule gets its own event (the
event's ``rule_ref``), as timers do. The reply is 202 echoing the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import re
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from jsonschema.exceptions import best_match
from nats.js.api import PubAck
from pydantic import BaseModel

from attune_api.context import request_id
from attune_api.deps import BoxDep, BusDep, PoolDep, ServicesDep, credential_of, resolve
from attune_api.metrics import WEBHOOKS
from attune_api.problems import ProblemError
from attune_api.schemas import API_PREFIX, RefPath
from attune_shared.bus import Bus
from attune_shared.errors import DefinitionError, RetryableError
from attune_shared.json_schema import compiled
from attune_shared.models import Trigger
from attune_shared.repos import RuleRepository, TriggerRepository
from attune_shared.secrets import SecretDecryptError
from attune_shared.types import Queryable

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"])

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_SCHEME = "sha256="
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class WebhookAccepted(BaseModel):
    trigger_ref: str
    message_id: str
    stream_seq: int
    duplicate: bool


def _refuse(status: int, outcome: str, detail: str, **kwargs: Any) -> ProblemError:
    WEBHOOKS.labels(outcome).inc()
    return ProblemError(status, detail, **kwargs)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body`` under ``secret``."""
    return SIGNATURE_SCHEME + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(sent: str, secret: str, body: bytes) -> bool:
    """Whether ``sent`` is the signature of ``body``, compared in constant time (a byte-by-byte
    compare would let a sender find the signature one byte at a time by timing the replies)."""
    return hmac.compare_digest(sent.strip().lower().encode(), signature(secret, body).encode())


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _refuse(413, "too_large", f"the body is {declared} bytes; webhooks accept at most {limit}")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _refuse(413, "too_large", f"the body exceeds {limit} bytes")
    except TimeoutError:
        raise _refuse(408, "too_slow", f"the body took more than {timeout:g} s to arrive") from None
    return bytes(body)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(text: str | bytes) -> Any:
    """The JSON document in ``text``; ValueError naming the problem (NaN, nesting, syntax)."""
    try:
        return json.loads(text, parse_constant=_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _allowed_address(request: Request, trigger: Trigger) -> None:
    """403 unless the client's address is in the trigger's allow-list (when it has one)."""
    if trigger.webhook_allowed_ips is None:
        return
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not any(address in ipaddress.ip_network(n) for n in trigger.webhook_allowed_ips):
        raise _refuse(
            403, "forbidden_address", f"webhooks of {trigger.ref} are not accepted from {host or 'here'}"
        )


async def _within_rate(pool: Queryable, trigger: Trigger) -> None:
    """429 once the trigger's deliveries in the current window exceed its rate limit."""
    if trigger.webhook_rate_limit is None:
        return
    count = await TriggerRepository(pool).count_webhook_delivery(trigger)
    if count > trigger.webhook_rate_limit:
        raise _refuse(
            429,
            "rate_limited",
            f"trigger {trigger.ref} accepts {trigger.webhook_rate_limit} webhooks per "
            f"{trigger.webhook_rate_window} s",
            headers={"Retry-After": str(trigger.webhook_rate_window)},
        )


def _payload(body: bytes, trigger: Trigger) -> dict[str, Any]:
    try:
        payload = _json(body)
    except ValueError as exc:
        raise _refuse(
            422, "invalid", f"the body is not JSON: {exc}", errors=[("body", f"not valid JSON: {exc}")]
        ) from None
    if not isinstance(payload, dict):
        raise _refuse(
            422,
            "invalid",
            f"the body must be a JSON object, not {type(payload).__name__}",
            errors=[("body", "not an object")],
        )
    if trigger.payload_schema:
        try:
            error = best_match(compiled(trigger.payload_schema).iter_errors(payload))
        except DefinitionError:
            error = None  # the sensor reports a broken schema; do not refuse on its behalf
        if error is not None:
            field = ".".join(str(p) for p in error.absolute_path) or "(root)"
            raise _refuse(
                422,
                "invalid",
                f"payload {field}: {error.message} (trigger {trigger.ref} payload_schema)",
                errors=[(f"body.{field}" if field != "(root)" else "body", error.message)],
            )
    return payload


def _message_id(trigger_ref: str, delivery: str | None) -> str:
    """The ``Nats-Msg-Id``: one per delivery key (so a retried delivery is one event), else random."""
    if not delivery:
        return f"webhook:{uuid.uuid4().hex}"
    if not _SAFE_ID.match(delivery):
        delivery = hashlib.sha256(delivery.encode()).hexdigest()[:40]
    return f"webhook:{trigger_ref}:{delivery}"


@router.post(
    "/{trigger_ref}",
    status_code=202,
    response_model=WebhookAccepted,
    summary="Deliver a webhook: the JSON body becomes an event of the trigger",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    },
    responses={
        401: {"description": "missing or wrong signature, or no valid API key"},
        403: {"description": "the client's address is not in the trigger's allow-list"},
        404: {"description": "no such trigger, or its webhook is not enabled"},
        408: {"description": "the body took too long to arrive"},
        409: {"description": "the trigger is disabled"},
        413: {"description": "body too large"},
        429: {"description": "over the trigger's webhook rate limit"},
        422: {"description": "body is not a JSON object, or violates the payload schema"},
    },
)
async def deliver(
    request: Request,
    services: ServicesDep,
    pool: PoolDep,
    bus: BusDep,
    box: BoxDep,
    trigger_ref: RefPath,
    api_key: Annotated[
        str | None, Query(description="an API key, for senders that cannot set headers")
    ] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    x_github_delivery: Annotated[str | None, Header(max_length=200, include_in_schema=False)] = None,
) -> WebhookAccepted | JSONResponse:
    trigger = await TriggerRepository(pool).get_by_ref(trigger_ref)
    api = services.settings.api
    if trigger is None:  # a StackStorm webhook url (core.st2.webhook rules), or the generic `st2`
        body = await _read_body(request, api.max_body_bytes, api.webhook_body_timeout)
        return await _deliver_stackstorm(request, pool, bus, trigger_ref, body)
    if not trigger.webhook_enabled:
        raise _refuse(404, "not_found", f"no webhook for trigger {trigger_ref}: its webhook is not enabled")
    _allowed_address(request, trigger)
    await _within_rate(pool, trigger)
    body = await _read_body(request, api.max_body_bytes, api.webhook_body_timeout)
    if trigger.webhook_secret is not None:
        try:
            secret = box.decrypt(trigger.webhook_secret)
        except SecretDecryptError as exc:
            raise _refuse(409, "invalid", f"trigger {trigger_ref}: {exc}") from None
        sent = request.headers.get(SIGNATURE_HEADER)
        if not sent:
            raise _refuse(
                401, "unauthorized", f"missing {SIGNATURE_HEADER}: sign the body with the trigger's secret"
            )
        if not signature_matches(sent, secret, body):
            raise _refuse(
                401, "unauthorized", f"wrong {SIGNATURE_HEADER}: the signature does not match the body"
            )
    else:
        header_key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        try:
            principal = await resolve(
                request, header_key or token or api_key or credential_of(request, None, None)
            )
        except ProblemError as exc:
            WEBHOOKS.labels("unauthorized").inc()
            raise exc from None
        if not principal.allows("operator"):
            raise _refuse(
                403, "unauthorized", f"role {principal.role} may not deliver webhooks: it needs operator"
            )
    if not trigger.enabled:
        raise _refuse(409, "disabled", f"trigger {trigger_ref} is disabled")
    _payload(body, trigger)
    message_id = _message_id(trigger_ref, idempotency_key or x_github_delivery)
    ack = await _hand_over(bus, trigger_ref, body, msg_id=message_id, trace_tag=request_id.get())
    WEBHOOKS.labels("accepted").inc()
    return WebhookAccepted(
        trigger_ref=trigger_ref, message_id=message_id, stream_seq=ack.seq, duplicate=bool(ack.duplicate)
    )


@router.post(
    "/{url:path}",
    status_code=202,
    response_model=None,
    summary="A StackStorm webhook whose url has several segments (`core.st2.webhook` rules)",
    responses={404: {"description": "no enabled rule uses core.st2.webhook with this url"}},
)
async def deliver_stackstorm(
    request: Request, services: ServicesDep, pool: PoolDep, bus: BusDep, url: str
) -> JSONResponse:
    api = services.settings.api
    body = await _read_body(request, api.max_body_bytes, api.webhook_body_timeout)
    return await _deliver_stackstorm(request, pool, bus, url, body)


async def _hand_over(bus: Bus, trigger_ref: str, payload: dict[str, Any] | bytes, **headers: Any) -> PubAck:
    """Publish the trigger message; 503 when NATS does not take it."""
    try:
        return await bus.trigger(trigger_ref, payload, source="webhook", **headers)
    except RetryableError as exc:
        raise _refuse(
            503,
            "unavailable",
            f"cannot hand the webhook to NATS, try again: {exc}",
            headers={"Retry-After": "1"},
        ) from None


# -- StackStorm's webhooks ----------------------------------------------------------------------

WEBHOOK_TRIGGER = "core.st2.webhook"
#: The generic webhook: its body names the trigger.
GENERIC_URL = "st2"
#: Headers never put in a payload (credentials); compared lower-cased.
HIDDEN_HEADERS = frozenset({"st2-api-key", "x-auth-token", "cookie", "x-api-key", "authorization"})
TRACE_TAG_HEADER = "St2-Trace-Tag"
#: Fields a form-encoded webhook body may have.
MAX_FORM_FIELDS = 1000


async def _deliver_stackstorm(
    request: Request, db: Queryable, bus: Bus, url: str, body: bytes
) -> JSONResponse:
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
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HIDDEN_HEADERS}
        headers = {k.title(): v for k, v in headers.items()}  # as WSGI shows them: X-Demo
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
            return _json(text) if text.strip() else {}
        except ValueError as exc:
            raise _refuse(400, "invalid", f"the body is not JSON: {exc}") from None
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except ValueError:
            raise _refuse(400, "invalid", f"the form has more than {MAX_FORM_FIELDS} fields") from None
    if kind == "text/plain":
        return text
    raise _refuse(400, "invalid", f"Unsupported Content-Type: {kind}")


async def _publish(bus: Bus, trigger: str, payload: Any, trace_tag: str | None, rule_ref: str | None) -> None:
    if not isinstance(payload, dict):
        raise _refuse(400, "invalid", f"the payload must be an object, not {type(payload).__name__}")
    await _hand_over(
        bus, trigger, payload, msg_id=f"webhook:{uuid.uuid4().hex}", trace_tag=trace_tag, rule_ref=rule_ref
    )
