"""The audit log of the API, recorded in one place: a middleware that, when the response starts,
appends a record for every call to a route declaring an audit action (:func:`audited`).

The record names the caller (``request.state.principal``, set by authentication), the declared
action, the target (the path parameters, or named fields of the JSON body), the outcome from the
status, the remote address and the request id. It is written before the response is sent, so a
client that got its answer finds the record; a failed write is logged with the whole record and
never turns the answer into an error (the change it records has been made).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune_api.auth import Principal
from attune_api.context import request_id
from attune_shared.audit import outcome_of, without_credentials
from attune_shared.repos import AuditRepository, NewAuditRecord

log = logging.getLogger("attune.api.audit")

#: The key routes declare their audit action under, in ``openapi_extra`` (also in the OpenAPI document).
AUDIT: Final = "x-audit"
#: Marks a route called with an unsafe method that changes nothing (``read`` keys may call it).
SIDE_EFFECT_FREE: Final = {"x-side-effect-free": True}
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: How much of a request body is kept to read target fields from (bodies are never stored).
_BODY_CAP: Final = 64 * 1024
_TRUE: Final = frozenset({"1", "true", "t", "yes", "y", "on"})


def audited(action: str, *, body: tuple[str, ...] = (), when: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` of a route whose calls are recorded as ``action``.

    ``body`` names JSON body fields copied to the record (the first is the target when the path has
    no parameters); with ``when``, only calls whose query flag of that name is true are recorded.
    """
    declaration: dict[str, Any] = {"action": action}
    if body:
        declaration["body"] = list(body)
    if when:
        declaration["when"] = when
    return {AUDIT: declaration}


def declaration_of(scope: Scope) -> dict[str, Any] | None:
    """The audit declaration of the route a request matched, if any."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    declared: dict[str, Any] | None = extra.get(AUDIT)
    return declared


def is_mutating(scope: Scope) -> bool:
    """Whether a request may change something: an unsafe method on a route not marked side-effect free."""
    if scope["method"] in SAFE_METHODS:
        return False
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    return not extra.get("x-side-effect-free", False)


def annotate(request: Request, **details: Any) -> None:
    """Add ``details`` to the call's audit record (e.g. the names of the secrets a listing decrypted)."""
    request.state.audit_details = {**getattr(request.state, "audit_details", {}), **details}


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def receive_tee() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _BODY_CAP:
                body.extend(message.get("body", b"")[: _BODY_CAP - len(body)])
            return message

        started = False

        async def send_recorded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                declared = declaration_of(scope)
                if declared is not None and _applies(scope, declared):
                    location = Headers(raw=message.get("headers", [])).get("location")
                    await _record(scope, declared, bytes(body), message["status"], location)
            await send(message)

        tee = receive if scope["method"] in SAFE_METHODS else receive_tee
        try:
            await self.app(scope, tee, send_recorded)
        except Exception:
            # a crash is answered 500 further out (ServerErrorMiddleware): record it here
            declared = declaration_of(scope)
            if not started and declared is not None and _applies(scope, declared):
                await _record(scope, declared, bytes(body), 500, None)
            raise


def _applies(scope: Scope, declared: dict[str, Any]) -> bool:
    flag = declared.get("when")
    return flag is None or Request(scope).query_params.get(flag, "").lower() in _TRUE


async def _record(
    scope: Scope, declared: dict[str, Any], body: bytes, status: int, location: str | None
) -> None:
    state = scope.get("state") or {}
    principal: Principal | None = state.get("principal")
    client = scope.get("client")
    names = declared.get("body", [])
    fields = _body_fields(body, names)
    path_params = scope.get("path_params") or {}
    first = fields.get(names[0]) if names else None
    target = "/".join(str(v) for v in path_params.values()) or (None if first is None else str(_shown(first)))
    query = {k: v for k, v in Request(scope).query_params.items() if k != "access_token"}
    details: dict[str, Any] = {"method": scope["method"], "path": scope["path"]}
    if query:
        details["query"] = query
    if location:  # what a create made (e.g. /api/v1/executions/42)
        details["location"] = location
    details |= {k: _shown(v) for k, v in fields.items()} | state.get("audit_details", {})
    entry = NewAuditRecord(
        actor=principal.login if principal else "unauthenticated",
        identity_id=principal.identity_id if principal else None,
        api_key_id=principal.api_key_id if principal else None,
        action=declared["action"],
        target=_storable(target),
        outcome=outcome_of(status),
        status=status,
        source="api",
        remote_addr=client[0] if client else None,
        request_id=request_id.get(),
        details=_storable(details),
    )
    try:
        await AuditRepository(scope["app"].state.services.pool).append(entry)
    except Exception:
        log.exception("audit.write_failed", extra={"audit": repr(entry)})


def _body_fields(body: bytes, names: list[str]) -> dict[str, Any]:
    if not names or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:  # not JSON, or cut at the cap
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {n: parsed[n] for n in names if n in parsed and isinstance(parsed[n], str | int | float | bool)}


def _shown(value: Any) -> Any:
    return without_credentials(value) if isinstance(value, str) else value


def _storable(value: Any) -> Any:
    """``value`` with every string storable in PostgreSQL text and jsonb: NUL and unpaired
    surrogates escaped (a hostile request must not make its record fail to write)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value
