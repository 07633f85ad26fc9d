"""Webhooks: ``POST /webhooks/{trigger_ref}`` publishes the JSON body to ``<p>.trigger.<trigger_ref>``.

Authentication, per trigger:

- a trigger **with a webhook secret** accepts a request whose ``X-Hub-Signature-256`` header is
  ``sha256=<hex HMAC-SHA256 of the raw body under the secret>`` (GitHub's scheme); no API key is
  needed, and a missing or wrong signature is a 401 even with one;
- a trigger **without a secret** needs an API key or token with the ``operator`` role, as a header
  (``X-API-Key`` / ``Authorization: Bearer``) or, for senders that can only configure a URL, the
  ``api_key`` query parameter (StackStorm's ``?st2-api-key=`` habit).

The trigger must exist with ``webhook_enabled`` (404 otherwise) and be enabled (409); the body must
be at most ``api.max_body_bytes`` (413) and a JSON object valid against the trigger's
``payload_schema`` (422). The reply is 202 with the message id: the ``Idempotency-Key`` (or
``X-GitHub-Delivery``) header makes retries of one delivery a single event (JetStream dedup).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from jsonschema.exceptions import best_match
from pydantic import BaseModel

from attune_api.context import request_id
from attune_api.deps import BoxDep, BusDep, PoolDep, ServicesDep, credential_of, resolve
from attune_api.metrics import WEBHOOKS
from attune_api.problems import ProblemError
from attune_api.routes import st2_webhooks
from attune_api.schemas import API_PREFIX, RefPath
from attune_shared.errors import DefinitionError, RetryableError
from attune_shared.json_schema import compiled
from attune_shared.models import Trigger
from attune_shared.repos import TriggerRepository
from attune_shared.secrets import SecretDecryptError

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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _refuse(413, "too_large", f"the body is {declared} bytes; webhooks accept at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _refuse(413, "too_large", f"the body exceeds {limit} bytes")
    return bytes(body)


def _payload(body: bytes, trigger: Trigger) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _refuse(422, "invalid", "the body is not JSON", errors=[("body", "not valid JSON")]) from None
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
        404: {"description": "no such trigger, or its webhook is not enabled"},
        409: {"description": "the trigger is disabled"},
        413: {"description": "body too large"},
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
    body = await _read_body(request, services.settings.api.max_body_bytes)
    if trigger is None or not trigger.webhook_enabled:
        if trigger is None:  # a StackStorm webhook url (core.st2.webhook rules), or the generic `st2`
            return await st2_webhooks.deliver(request, pool, bus, trigger_ref, body)
        raise _refuse(404, "not_found", f"no webhook for trigger {trigger_ref}: its webhook is not enabled")
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
        if not hmac.compare_digest(sent.strip().lower(), signature(secret, body)):
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
    try:
        ack = await bus.trigger(
            trigger_ref, body, msg_id=message_id, trace_tag=request_id.get(), source="webhook"
        )
    except RetryableError as exc:
        raise _refuse(
            503,
            "unavailable",
            f"cannot hand the webhook to NATS, try again: {exc}",
            headers={"Retry-After": "1"},
        ) from None
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
    body = await _read_body(request, services.settings.api.max_body_bytes)
    return await st2_webhooks.deliver(request, pool, bus, url, body)
