"""Keys (stored secrets): list, get, create, update, delete. Values are encrypted at rest and never
returned unless an admin asks with ``include_value=true``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from attune_api.auth import Principal
from attune_api.deps import Admin, BoxDep, PoolDep, Viewer
from attune_api.problems import ProblemError
from attune_api.routes import _catalog as catalog
from attune_api.schemas import API_PREFIX, KEY_REF, BeforeId, Limit, Page, RefFilter, RefPath
from attune_shared.models import Key
from attune_shared.repos import KeyRepository
from attune_shared.secrets import SecretBox, SecretDecryptError

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["keys"])
KIND = "key"

IncludeValue = Annotated[bool, Query(description="return the (decrypted) value; admin only")]


class KeyOut(BaseModel):
    id: int
    ref: str
    description: str
    encrypted: bool
    value: str | None = Field(description="null unless include_value=true (admin)")
    created: datetime
    updated: datetime


class KeyCreate(BaseModel):
    ref: str = Field(pattern=KEY_REF, max_length=255)
    value: str = Field(max_length=1024 * 1024)
    description: str = ""
    encrypted: bool = Field(default=True, description="encrypt the value at rest (default)")


class KeyUpdate(BaseModel):
    value: str | None = Field(default=None, max_length=1024 * 1024)
    description: str | None = None
    encrypted: bool | None = None


def _out(row: Key, box: SecretBox, include_value: bool) -> KeyOut:
    value = None
    if include_value:
        try:
            value = box.decrypt(row.value) if row.encrypted else row.value
        except SecretDecryptError as exc:
            raise ProblemError(409, f"key {row.ref}: {exc}", slug="undecryptable") from None
    return KeyOut(**row.model_dump(exclude={"value"}), value=value)


def _check_reveal(principal: Principal, include_value: bool) -> None:
    if include_value and not principal.allows("admin"):
        raise ProblemError(
            403, f"role {principal.role} may not read key values: include_value needs the admin role"
        )


@router.get("", summary="List keys (values only with include_value=true, admin)")
async def list_keys(
    principal: Viewer,
    pool: PoolDep,
    box: BoxDep,
    ref: RefFilter = None,
    include_value: IncludeValue = False,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> Page[KeyOut]:
    _check_reveal(principal, include_value)
    rows = await KeyRepository(pool).list(ref=ref, limit=limit, before_id=before_id)
    return Page[KeyOut](
        data=[_out(r, box, include_value) for r in rows], next=rows[-1].id if len(rows) >= limit else None
    )


@router.get("/{ref}", summary="Get a key", responses={404: {"description": "no such key"}})
async def get_key(
    principal: Viewer, pool: PoolDep, box: BoxDep, ref: RefPath, include_value: IncludeValue = False
) -> KeyOut:
    _check_reveal(principal, include_value)
    return _out(await catalog.get_or_404(KeyRepository(pool), ref, KIND), box, include_value)


@router.post("", status_code=201, summary="Create a key")
async def create_key(_: Admin, pool: PoolDep, box: BoxDep, body: KeyCreate) -> KeyOut:
    values = body.model_dump()
    if body.encrypted:
        values["value"] = box.encrypt(body.value)
    return _out(await catalog.insert(KeyRepository(pool), values, KIND), box, False)


@router.patch("/{ref}", summary="Update a key's value, description or encryption")
async def update_key(_: Admin, pool: PoolDep, box: BoxDep, ref: RefPath, body: KeyUpdate) -> KeyOut:
    repo = KeyRepository(pool)
    current = await catalog.get_or_404(repo, ref, KIND)
    changes = body.model_dump(exclude_unset=True)
    for name in ("value", "description", "encrypted"):
        if name in changes and changes[name] is None:
            raise ProblemError(422, f"{name}: may not be null", errors=[(name, "may not be null")])
    encrypted = changes.get("encrypted", current.encrypted)
    if "value" in changes or encrypted != current.encrypted:
        plain = changes.get("value")
        if plain is None:
            try:
                plain = box.decrypt(current.value) if current.encrypted else current.value
            except SecretDecryptError as exc:
                raise ProblemError(409, f"key {ref}: {exc}", slug="undecryptable") from None
        changes["value"] = box.encrypt(plain) if encrypted else plain
    return _out(await catalog.update(repo, ref, changes, KIND), box, False)


@router.delete("/{ref}", status_code=204, summary="Delete a key")
async def delete_key(_: Admin, pool: PoolDep, ref: RefPath) -> None:
    await catalog.delete(KeyRepository(pool), ref, KIND)
