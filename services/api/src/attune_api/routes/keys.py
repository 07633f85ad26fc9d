"""The datastore (``/keys``), as StackStorm's key-value API: keys by name in the ``system`` scope or
a user's ``user`` scope, string or JSON values, secrets, TTLs, prefix listing with a cursor.

Who may do what: anyone signed in reads system keys and reads and writes their own user keys;
writing system keys and touching other users' keys needs ``admin``. A secret's value is
``********`` unless ``decrypt=true`` is asked — by an admin, or by a user for their own keys — and
every decrypted read is in the audit log (``key.decrypt``, naming the secrets shown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from attune_api.audit import annotate, audited
from attune_api.auth import Principal
from attune_api.deps import BoxDep, PoolDep, Viewer
from attune_api.problems import ProblemError, not_found
from attune_api.schemas import API_PREFIX, KEY_REF, Limit
from attune_shared.datastore import Datastore, KeyValue
from attune_shared.models import KeyScope
from attune_shared.secrets import SecretDecryptError

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["keys"])

KeyName = Annotated[
    str, Path(pattern=KEY_REF, max_length=255, description="the key's name, e.g. `db.password`")
]
Decrypt = Annotated[
    bool, Query(description="return secrets in clear (admin, or a user for their own keys); logged")
]
UserQuery = Annotated[
    str | None, Query(description="whose `user` key (default: yours; another user's needs admin)")
]


class KeyOut(BaseModel):
    name: str
    scope: KeyScope
    user: str | None = Field(description="the owner of a `user` key")
    value: Any = Field(description="the value (a string or JSON); `********` for a secret not decrypted")
    secret: bool
    description: str
    expires_at: datetime | None


class KeyPage(BaseModel):
    data: list[KeyOut]
    next: str | None = Field(description="pass as `after` for the next page")


class KeyPut(BaseModel):
    value: Any = Field(description="a string, or any JSON value")
    secret: bool = Field(default=False, description="encrypt the value at rest and mask it when shown")
    ttl: float | None = Field(default=None, gt=0, description="seconds until the key disappears")
    description: str = ""
    scope: KeyScope = KeyScope.SYSTEM
    user: str | None = Field(default=None, description="owner of a `user` key (default: you)")


def _out(key: KeyValue) -> KeyOut:
    return KeyOut(
        name=key.name,
        scope=key.scope,
        user=key.user or None,
        value=key.shown(),
        secret=key.secret,
        description=key.description,
        expires_at=key.expires_at,
    )


def _owner(principal: Principal, scope: KeyScope, user: str | None, *, write: bool) -> str:
    """Whose key: checks that ``principal`` may read (or ``write``) it."""
    if scope is KeyScope.SYSTEM:
        if user:
            raise ProblemError(
                422, "user: only `user` keys have a user", errors=[("user", "not with scope system")]
            )
        if write and not principal.allows("admin"):
            raise ProblemError(403, f"role {principal.role} may not change system keys: that needs admin")
        return ""
    owner = user or principal.login
    if owner != principal.login and not principal.allows("admin"):
        raise ProblemError(403, f"user {principal.login} may not use the keys of user {owner}")
    return owner


def _check_decrypt(principal: Principal, scope: KeyScope, decrypt: bool) -> None:
    if decrypt and scope is KeyScope.SYSTEM and not principal.allows("admin"):
        raise ProblemError(403, f"role {principal.role} may not decrypt system keys: that needs admin")


def _shown_name(key: KeyValue) -> str:
    """A key as the audit log names it: ``system:name`` or ``user:<owner>:name``."""
    return f"{key.scope}:{key.user}:{key.name}" if key.user else f"{key.scope}:{key.name}"


async def _datastore(pool: PoolDep, box: BoxDep) -> Datastore:
    return Datastore(pool, box)


DatastoreDep = Annotated[Datastore, Depends(_datastore)]


@router.get(
    "",
    summary="List keys by name (optionally with a prefix), a page at a time",
    openapi_extra=audited("key.decrypt", when="decrypt"),
)
async def list_keys(
    principal: Viewer,
    store: DatastoreDep,
    request: Request,
    prefix: Annotated[str | None, Query(description="only keys whose name starts with this")] = None,
    scope: KeyScope | None = None,
    user: UserQuery = None,
    after: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
    decrypt: Decrypt = False,
    limit: Limit = 100,
) -> KeyPage:
    if scope is KeyScope.SYSTEM:
        owner = _owner(principal, scope, user, write=False)
    elif scope is KeyScope.USER or user is not None:
        scope = KeyScope.USER
        owner = _owner(principal, scope, user, write=False)
    else:  # everything this caller may read: system keys and their own
        owner = None
    _check_decrypt(principal, scope or KeyScope.SYSTEM, decrypt)
    try:
        keys = await store.list(
            prefix=prefix, scope=scope, user=owner, after=after, limit=limit + 1, decrypt=decrypt
        )
    except SecretDecryptError as exc:
        raise ProblemError(409, str(exc), slug="undecryptable") from None
    if owner is None and not principal.allows("admin"):
        keys = [k for k in keys if k.scope is KeyScope.SYSTEM or k.user == principal.login]
    page, more = keys[:limit], len(keys) > limit
    if decrypt:
        annotate(request, decrypted=[_shown_name(k) for k in page if k.secret])
    return KeyPage(data=[_out(k) for k in page], next=page[-1].name if more and page else None)


@router.get(
    "/{name}",
    summary="Get a key",
    responses={404: {"description": "no such key (or it expired)"}},
    openapi_extra=audited("key.decrypt", when="decrypt"),
)
async def get_key(
    principal: Viewer,
    store: DatastoreDep,
    request: Request,
    name: KeyName,
    scope: KeyScope = KeyScope.SYSTEM,
    user: UserQuery = None,
    decrypt: Decrypt = False,
) -> KeyOut:
    owner = _owner(principal, scope, user, write=False)
    _check_decrypt(principal, scope, decrypt)
    try:
        key = await store.get(name, scope=scope, user=owner, decrypt=decrypt)
    except SecretDecryptError as exc:
        raise ProblemError(409, f"key {name}: {exc}", slug="undecryptable") from None
    if key is None:
        raise not_found(f"{scope} key {name}")
    if decrypt:
        annotate(request, decrypted=[_shown_name(key)] if key.secret else [])
    return _out(key)


@router.put(
    "/{name}",
    summary="Set a key (create or replace; without ttl it never expires)",
    openapi_extra=audited("key.set", body=("scope", "user", "secret")),
)
async def put_key(principal: Viewer, store: DatastoreDep, name: KeyName, body: KeyPut) -> KeyOut:
    owner = _owner(principal, body.scope, body.user, write=True)
    key = await store.set(
        name,
        body.value,
        scope=body.scope,
        user=owner,
        secret=body.secret,
        ttl=body.ttl,
        description=body.description,
    )
    return _out(key)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a key",
    responses={404: {"description": "no such key"}},
    openapi_extra=audited("key.delete"),
)
async def delete_key(
    principal: Viewer,
    store: DatastoreDep,
    name: KeyName,
    scope: KeyScope = KeyScope.SYSTEM,
    user: UserQuery = None,
) -> None:
    owner = _owner(principal, scope, user, write=True)
    if not await store.delete(name, scope=scope, user=owner):
        raise not_found(f"{scope} key {name}")
