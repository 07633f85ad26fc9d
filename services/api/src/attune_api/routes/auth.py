"""Authentication: exchange an API key for a bearer token, who am I, API key management (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime, BaseModel, Field, SecretStr

from attune_api import session
from attune_api.audit import audited
from attune_api.auth import Principal, authenticate, principal_of
from attune_api.deps import (
    Admin,
    CurrentPrincipal,
    PoolDep,
    ServicesDep,
    api_key_header,
    bearer,
    current_principal,
    throttled,
    unauthorized,
)
from attune_api.problems import ProblemError, invalid, not_found
from attune_api.schemas import IdPath
from attune_api.services import Services
from attune_shared.apikeys import authenticate_key, create_api_key, key_by_id, looks_like_key
from attune_shared.models.identity import ApiKeyScope, Role
from attune_shared.repos import ApiKeyRepository, IdentityRepository

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    expires_at: datetime
    role: Role
    login: str


class Me(BaseModel):
    login: str
    role: Role
    identity_id: int | None
    api_key_id: int | None
    via: str
    scope: ApiKeyScope


class SessionCreate(BaseModel):
    credential: SecretStr = Field(
        min_length=1, max_length=4096, description="an API key (atn_…) or a token (atk_…)"
    )


class SessionOut(BaseModel):
    login: str
    role: Role
    expires_at: datetime


class ApiKeyOut(BaseModel):
    id: int
    login: str | None
    name: str
    prefix: str
    role: Role
    scope: ApiKeyScope
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created: datetime


class ApiKeyCreate(BaseModel):
    role: Role
    login: str = Field(min_length=1, max_length=255, description="the identity; created when missing")
    name: str = Field(default="", max_length=255, description="what the key is for")
    scope: ApiKeyScope = Field(
        default="write", description="`read`: the key may only read (every mutating call is a 403)"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the key stops working (ISO 8601 with an offset); never if null"
    )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")


@router.post(
    "/token",
    summary="Exchange an API key for a short-lived bearer token (it keeps the key's role and scope)",
    responses={
        401: {"description": "no valid API key"},
        429: {"description": "too many failed authentications from this address"},
    },
    openapi_extra=audited("auth.token"),
)
async def token(
    services: ServicesDep,
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> TokenOut:
    key = api_key or (credentials.credentials if credentials else None)
    if not key or not looks_like_key(key):
        raise unauthorized("send an API key (X-API-Key or Authorization: Bearer atn_…) to get a token")
    found = await throttled(request, key, lambda: authenticate_key(services.pool, key))
    if found is None:
        raise unauthorized("invalid credentials: the API key is unknown, expired or revoked")
    row, identity = found
    request.state.principal = principal_of(row, identity, via="api_key")
    access_token, expires_at = services.signer.issue(row, identity)
    return TokenOut(
        access_token=access_token,
        expires_in=services.signer.ttl,
        expires_at=expires_at,
        role=row.role,
        login=identity.login,
    )


@router.post(
    "/session",
    summary="Sign in to the web console: an API key or token for a session cookie (HttpOnly, SameSite=Strict)",
    responses={
        401: {"description": "the key or token is not valid"},
        403: {"description": "no CSRF header"},
        429: {"description": "too many failed authentications from this address"},
    },
    openapi_extra=audited("auth.session"),
)
async def create_session(
    services: ServicesDep, request: Request, response: Response, body: SessionCreate
) -> SessionOut:
    session.check_csrf(request)
    credential = body.credential.get_secret_value()
    principal = await throttled(
        request, credential, lambda: authenticate(services.pool, services.signer, credential)
    )
    key_id = None if principal is None else principal.api_key_id
    found = None if key_id is None else await key_by_id(services.pool, key_id)
    if found is None:
        raise unauthorized("invalid credentials: the API key or token is unknown, expired or revoked")
    request.state.principal = principal
    signer = services.session_signer
    token, expires_at = signer.issue(*found)
    session.set_cookie(response, token, signer.ttl, secure=_secure(services, request))
    return SessionOut(login=found[1].login, role=found[0].role, expires_at=expires_at)


@router.get(
    "/session",
    summary="Who is signed in: the caller, or null when nobody is (never a 401, so the console can ask on load)",
)
async def get_session(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Me | None:
    try:
        return _me(await current_principal(request, api_key, credentials))
    except ProblemError:
        return None


@router.delete(
    "/session",
    status_code=204,
    summary="Sign out of the web console (clears the cookie)",
    openapi_extra=audited("auth.signout"),
)
async def delete_session(services: ServicesDep, request: Request, response: Response) -> None:
    session.clear_cookie(response, secure=_secure(services, request))


def _secure(services: Services, request: Request) -> bool:
    return services.settings.api.session_cookie_secure or request.url.scheme == "https"


@router.get("/me", summary="The caller: login, role and how it authenticated")
async def me(principal: CurrentPrincipal) -> Me:
    return _me(principal)


def _me(principal: Principal) -> Me:
    return Me(
        login=principal.login,
        role=principal.role,
        identity_id=principal.identity_id,
        api_key_id=principal.api_key_id,
        via=principal.via,
        scope=principal.scope,
    )


@router.get("/keys", summary="API keys (never the keys themselves)")
async def list_keys(_: Admin, pool: PoolDep) -> list[ApiKeyOut]:
    rows = await ApiKeyRepository(pool).list()
    identities = await IdentityRepository(pool).get_many({r.identity for r in rows})
    return [
        ApiKeyOut(
            **r.model_dump(exclude={"identity", "key_hash"}),
            login=identities[r.identity].login if r.identity in identities else None,
        )
        for r in rows
    ]


@router.post(
    "/keys",
    status_code=201,
    summary="Create an API key (the key is in the response, once)",
    openapi_extra=audited("apikey.create", body=("login", "role", "scope", "expires_at")),
)
async def create_key(_: Admin, pool: PoolDep, body: ApiKeyCreate) -> ApiKeyCreated:
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise invalid("expires_at", f"{body.expires_at.isoformat()} is not in the future")
    created = await create_api_key(
        pool,
        role=body.role,
        login=body.login,
        name=body.name,
        scope=body.scope,
        expires_at=body.expires_at,
    )
    return ApiKeyCreated(
        **created.api_key.model_dump(exclude={"identity", "key_hash"}),
        login=created.identity.login,
        key=created.key,
    )


@router.delete(
    "/keys/{id}",
    status_code=204,
    summary="Revoke an API key (its tokens stop working too)",
    responses={404: {"description": "no such key, or already revoked"}},
    openapi_extra=audited("apikey.revoke"),
)
async def revoke_key(_: Admin, pool: PoolDep, id: IdPath) -> None:
    if not await ApiKeyRepository(pool).revoke(id):
        raise not_found(f"active API key {id}")
