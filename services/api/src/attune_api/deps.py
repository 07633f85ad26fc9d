"""Dependencies routes declare with ``Annotated``: the pool, the bus, the caller and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from attune_api import session
from attune_api.audit import is_mutating
from attune_api.auth import ANONYMOUS_ADMIN, TOKEN_PREFIX, Principal, authenticate, is_guess
from attune_api.problems import ProblemError
from attune_api.services import Services
from attune_api.sse import Hub
from attune_shared.bus import Bus
from attune_shared.models.identity import Role
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.workflows.engine import WorkflowEngine

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (atn_…)")
T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="an API key or a token from POST /auth/token")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# The dependencies are coroutines: FastAPI runs a plain function dependency in its thread pool, a
# thread hop per dependency and request (and a worker thread's memory, 6 MB of the API's RSS).
async def _services(request: Request) -> Services:
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def _pool(request: Request) -> asyncpg.Pool:
    return get_services(request).pool


async def _bus(request: Request) -> Bus:
    return get_services(request).bus


async def _hub(request: Request) -> Hub:
    return get_services(request).hub


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _box(request: Request) -> SecretBox:
    return get_services(request).box


async def _workflows(request: Request) -> WorkflowEngine:
    return get_services(request).workflows


PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
BusDep = Annotated[Bus, Depends(_bus)]
HubDep = Annotated[Hub, Depends(_hub)]
SettingsDep = Annotated[Settings, Depends(_settings)]
BoxDep = Annotated[SecretBox, Depends(_box)]
WorkflowsDep = Annotated[WorkflowEngine, Depends(_workflows)]

UNAUTHENTICATED = "authentication required: send an API key as X-API-Key or a bearer token as Authorization"


def unauthorized(detail: str = UNAUTHENTICATED) -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="attune"'})


def credential_of(
    request: Request, api_key: str | None, credentials: HTTPAuthorizationCredentials | None
) -> str | None:
    """The key or token a request carries: ``X-API-Key``, ``Authorization: Bearer``, or for live
    streams (browsers' EventSource cannot set headers) a bearer token — never an API key, which
    must not end up in URLs and logs — as the ``access_token`` query parameter."""
    if api_key:
        return api_key
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    if request.method == "GET" and request.url.path.endswith("/stream"):
        token = request.query_params.get("access_token") or ""
        return token if token.startswith(TOKEN_PREFIX) else None
    return None


def client_address(request: Request) -> str:
    """The caller's address (the proxy's client with ``X-Forwarded-For`` from a trusted proxy)."""
    return request.client.host if request.client else "unknown"


async def throttled(
    request: Request, credential: str, attempt: Callable[[], Awaitable[T | None]]
) -> T | None:
    """Run an authentication ``attempt`` with ``credential`` unless the caller's address guessed
    too often (429); a failed attempt (``None``) with a credential that was never valid counts
    against the address."""
    services = get_services(request)
    throttle = services.throttle
    address = client_address(request)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise ProblemError(
            429,
            f"too many failed authentications from {address}: try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    result = await attempt()
    if result is None and await is_guess(services.pool, services.signer, credential):
        throttle.failed(address)
    return result


async def resolve(request: Request, credential: str | None) -> Principal:
    """The caller, or 401 (429 after too many failures from its address; 403 for a ``read`` key on
    a mutating call). With authentication off, everyone is an anonymous admin."""
    services = get_services(request)
    if not services.settings.api.auth_enabled:
        request.state.principal = ANONYMOUS_ADMIN
        return ANONYMOUS_ADMIN
    if not credential:
        raise unauthorized()
    principal = await throttled(
        request, credential, lambda: authenticate(services.pool, services.signer, credential)
    )
    if principal is None:
        raise unauthorized("invalid credentials: the API key or token is unknown, expired or revoked")
    request.state.principal = principal
    if principal.scope == "read" and is_mutating(request.scope):
        raise ProblemError(
            403,
            f"API key {principal.api_key_id} has scope read: it may only read, "
            f"not {request.method} {request.url.path}",
            slug="scope",
        )
    return principal


async def current_principal(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    credential = credential_of(request, api_key, credentials) or session.cookie_credential(request)
    return await resolve(request, credential)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

_WHY = {
    "viewer": "read",
    "operator": "run, cancel and enable or disable",
    "admin": "change the catalog and manage keys",
}


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role includes ``role`` (403 otherwise)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.allows(role):
            raise ProblemError(
                403,
                f"role {principal.role} may not do this: it needs the {role} role (to {_WHY[role]})",
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
